"""VisionTransformer_FFN: MMAction2's VideoMAE ViT made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every LayerNorm (``norm1``/``norm2`` of each block, the final ``norm`` or
``fc_norm``) a copy per frame count. Patch embedding, attention and MLP
weights stay shared.

The position embedding, the only tensor shaped by the count, has one row
per token: ``(count // tubelet_size) * grid ** 2``. It becomes per count
(keys ``pos_embed.branches.<T>``):

* sinusoid (the default): a fixed function of the token index, so the table
  of each count, trained or not, is the one the stock class computes at
  ``num_frames=T`` (nothing learnt, a checkpoint's table is not read);
* learnable (``use_learnable_pos_emb=True``): one Parameter per trained
  count, as TimeSformer_FFN's time embedding and for the same reasons:
  each starts as the stock ``(1, L, D)`` table resampled linearly in time
  (tubelet axis, ``align_corners=True``), the stock one itself at
  ``num_frames``; an untrained count uses the nearest branch resampled the
  same way at every forward.

No adapters (``weight_alteration`` must stay False), as for TimeSformer:
every block starts with a LayerNorm whose per-count affine already is a
per-channel scale, and the only conv, the patch embedding, reads RGB
frames, whose statistics do not depend on the count.

The count is the number of input frames; the patch embedding takes them in
tubelets of ``tubelet_size``, so every count (trained or not) must be a
multiple of it.
"""
from collections import OrderedDict
from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models.backbones.vit_mae import (VisionTransformer,
                                               get_sinusoid_encoding)
from mmaction.registry import MODELS

from ...utils import check_frame_count
from ..layers import RateSpecificLayer, resample_frames
from .frame_flexible_3d import FrameFlexible3DMixin
from .stock_arguments import stock_argument, with_stock_argument

__all__ = ['VisionTransformer_FFN', 'RateSpecificPositionEmbedding']


class RateSpecificPositionEmbedding(RateSpecificLayer, nn.Module):
    """The ViT's position table ``(1, tubelets * P, D)`` per trained count.

    Args:
        table (torch.Tensor): The stock table, ``num_frames`` frames.
        frame_counts (Sequence[int]): Trained counts.
        tubelet_size (int): Frames per tubelet.
        patches (int): Patches per tubelet (``grid ** 2``).
        learnable (bool): A Parameter per count (resampled from ``table``),
            else the fixed sinusoid table of each count.
        active (int, optional): Count in use. Defaults to the highest.
    """
    _variants_name = 'branches'

    def __init__(self,
                 table: torch.Tensor,
                 frame_counts,
                 tubelet_size: int,
                 patches: int,
                 learnable: bool,
                 active: Optional[int] = None) -> None:
        super().__init__()
        self.tubelet_size = tubelet_size
        self.patches = patches
        self.learnable = learnable
        if learnable:
            # OrderedDict: a ParameterDict sorts a plain dict's keys as
            # strings ('16' < '4'), and frame_counts reads the key order.
            self.branches = nn.ParameterDict(
                OrderedDict((str(count),
                             nn.Parameter(
                                 self.resampled(table.detach(), count).clone(),
                                 requires_grad=table.requires_grad))
                            for count in frame_counts))
        else:
            # Persistent buffers, as the stock table is.
            self.branches = nn.Module()
            for count in frame_counts:
                self.branches.register_buffer(
                    str(count), self.sinusoid(count, table.shape[-1]))
        self.active = frame_counts[-1] if active is None else active

    def _variants(self):
        return self.branches._buffers if not self.learnable else self.branches

    def sinusoid(self, frames: int, dims: int) -> torch.Tensor:
        """The stock sinusoid table at ``num_frames=frames``."""
        return get_sinusoid_encoding(
            frames // self.tubelet_size * self.patches, dims)

    def resampled(self, table: torch.Tensor, frames: int) -> torch.Tensor:
        """``table`` resampled linearly along its tubelet axis to the
        tubelets of ``frames`` frames (unchanged if it has them)."""
        tubelets = table.shape[1] // self.patches
        grid = table.reshape(1, tubelets, self.patches, table.shape[-1])
        grid = resample_frames(grid, frames // self.tubelet_size, dim=1)
        return grid.flatten(1, 2)

    def table(self, count: Optional[int] = None) -> torch.Tensor:
        """The table of trained ``count`` (default: the active one)."""
        count = self._active if count is None else count
        return self._variants()[str(count)]

    def embedding(self, frames: int) -> torch.Tensor:
        """The table for ``frames`` input frames: the active branch's
        (learnable: resampled to them; sinusoid: computed for them when
        they are not the active count)."""
        table = self.table()
        if frames == self._active:
            return table
        if self.learnable:
            return self.resampled(table, frames)
        return self.sinusoid(frames, table.shape[-1]).to(table)

    def to_static(self, count: Optional[int] = None) -> nn.Parameter:
        """The table of ``count`` (default: the active one) as the stock
        ``pos_embed`` (a frozen Parameter for the sinusoid buffer: the stock
        model loads it under the same key)."""
        table = self.table(count)
        return nn.Parameter(table.detach().clone(), self.learnable
                            and table.requires_grad)

    def extra_repr(self) -> str:
        kind = 'learnable' if self.learnable else 'sinusoid'
        return f'{kind}, active={self._active}'


@MODELS.register_module()
class VisionTransformer_FFN(FrameFlexible3DMixin, VisionTransformer):
    """:class:`mmaction.models.VisionTransformer` (VideoMAE, VideoMAE V2)
    with FFN's rate-specific LayerNorms and per-count position tables.

    Takes the arguments of :class:`VisionTransformer` as the stock class
    does, positional ones included, and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`. ``num_frames`` is the length of the stock
    position table (that of a stock checkpoint), not a trained count; it
    defaults to the highest trained count. Every trained count and
    ``num_frames`` must be multiples of ``tubelet_size``.
    ``weight_alteration`` must stay False (see the module doc).

    Initialisation is the stock one, run on a stock twin and copied into
    every per-count copy (a learnable table resampled to each count), then
    ``pretrained`` (a stock or FFN checkpoint), if given, loaded into every
    copy the same way.
    """
    pretrained_kinds = 'a VideoMAE VisionTransformer checkpoint (stock or FFN)'
    # The stock class sets a Pretrained init_cfg and then overwrites it with
    # the init_cfg argument, so it silently ignores ``pretrained``; the FFN
    # version loads it into every copy (init_weights) as intended.
    keep_pretrained_from_stock = True

    def _stock_arguments(self, args: tuple, kwargs: Dict[str, Any],
                         counts: Tuple[int, ...],
                         default: int) -> Tuple[tuple, Dict[str, Any]]:
        tubelet = check_frame_count(
            stock_argument(VisionTransformer, args, kwargs, 'tubelet_size'),
            'tubelet_size')
        num_frames = stock_argument(VisionTransformer, args, kwargs,
                                    'num_frames')
        num_frames = counts[-1] if num_frames is None else check_frame_count(
            num_frames, 'num_frames')
        for name, values in (('num_segments_list', counts), ('num_frames',
                                                             (num_frames, ))):
            wrong = [v for v in values if v % tubelet]
            if wrong:
                raise ValueError(
                    f'{type(self).__name__} takes frames in tubelets of '
                    f'tubelet_size={tubelet}: {name} must hold multiples of '
                    f'{tubelet}, got {wrong}')
        args, kwargs = with_stock_argument(VisionTransformer, args, kwargs,
                                           'num_frames', num_frames)
        return super()._stock_arguments(args, kwargs, counts, default)

    def _before_conversion(self, counts: Tuple[int, ...],
                           default: int) -> None:
        """The position table made per count."""
        self.tubelet_size = self.patch_embed.projection.kernel_size[0]
        stock = self.pos_embed
        del self.pos_embed
        self.pos_embed = RateSpecificPositionEmbedding(
            stock,
            counts,
            self.tubelet_size,
            self.grid_size[0] * self.grid_size[1],
            learnable=isinstance(stock, nn.Parameter))

    def _resize_pretrained(self, key: str, tensor: torch.Tensor,
                           shape: torch.Size) -> Optional[torch.Tensor]:
        """A stock table (checkpoint or stock twin) made into the branch of
        another count: resampled in time (learnable) or computed
        (sinusoid)."""
        if not key.startswith('pos_embed.branches.') or tensor.dim() != 3 \
                or tensor.shape[::2] != shape[::2]:
            return None
        table = self.pos_embed
        count = int(key.rsplit('.', 1)[1])
        if table.learnable:
            if tensor.shape[1] % table.patches:
                return None
            return table.resampled(tensor, count)
        return table.sinusoid(count, shape[-1])

    def _check_input(self, x: torch.Tensor) -> None:
        super()._check_input(x)
        if x.shape[2] % self.tubelet_size:
            raise ValueError(
                f'{type(self).__name__} takes clips of a multiple of '
                f'tubelet_size={self.tubelet_size} frames, got {x.shape[2]}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stock forward with the position table of the active count.

        Args:
            x (torch.Tensor): Clips ``(N, C, T, H, W)``, ``T`` the active
                count.

        Returns:
            torch.Tensor: Features ``(N, D)``, or ``(N, D, T', h, w)`` with
            ``return_feat_map``.
        """
        self._check_input(x)
        b, _, frames, h, w = x.shape
        h //= self.patch_size
        w //= self.patch_size
        x = self.patch_embed(x)[0]
        pos_embed = self.pos_embed.embedding(frames)
        if (h, w) != self.grid_size:
            # The stock spatial resize, per tubelet.
            pos_embed = pos_embed.reshape(-1, *self.grid_size,
                                          self.embed_dims).permute(0, 3, 1, 2)
            pos_embed = F.interpolate(
                pos_embed, size=(h, w), mode='bicubic', align_corners=False)
            pos_embed = pos_embed.permute(0, 2, 3, 1).flatten(1, 2)
            pos_embed = pos_embed.reshape(1, -1, self.embed_dims)
        x = self.pos_drop(x + pos_embed)
        for blk in self.blocks:
            x = blk(x)
        x = self.norm(x)
        if self.return_feat_map:
            x = x.reshape(b, -1, h, w, self.embed_dims)
            return x.permute(0, 4, 1, 2, 3)
        if self.fc_norm is not None:
            return self.fc_norm(x.mean(1))
        return x[:, 0]
