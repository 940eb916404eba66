"""TimeSformer_FFN: MMAction2's TimeSformer made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every LayerNorm a copy per frame count: the pre-norms of the temporal and
spatial attentions and of the FFN (``divided_space_time``), the norms of
``BaseTransformerLayer`` (``space_only``, ``joint_space_time``) and the
final ``norm``. Patch embedding, attention and FFN weights, ``pos_embed``
and ``cls_token`` stay shared.

Time embedding, the only weight shaped by the frame count (``(1, T, D)``):
one learnable embedding per trained count ``T`` (keys
``time_embed.branches.<T>``), not one shared embedding interpolated to each
count. Reasons: the clips of every count span the same time, so position
``i`` of ``T`` means time ``i / (T - 1)`` of the clip and an interpolated
embedding is a sound start, but neighbouring frames are 4 times further
apart at 4 frames than at 16, so what the temporal attention should learn
from a position differs per count; FFN's finding is that such count-specific
statistics want private parameters (as its norms), and one interpolated
embedding would tie the 4-frame positions to interpolations of the 16-frame
ones. The cost is negligible: ``(sum(counts) - num_frames)
* D`` parameters, 15,360 for ViT-B (D=768) at counts (4, 8, 16) and
``num_frames=8``, 0.013% of its 121M. Each per-count embedding starts as
the interpolated design would: the stock ``(1, num_frames, D)`` embedding
resampled linearly in time to ``T`` (``F.interpolate``, ``align_corners=True``:
first and last positions kept, see :func:`resample_frames`); at
``T == num_frames`` it is the stock embedding itself. A stock checkpoint
fills each count the same way. A count ``T'`` that was not trained uses the
nearest trained branch ``T`` (norms and embedding) with that embedding
resampled to ``T'`` the same way, at every forward (gradients reach the
branch). The stock MMAction2 forward adds ``time_embed`` as is, so it
only runs at ``num_frames``; the original TimeSformer interpolates with
``'nearest'``; linear keeps the embedding smooth in time and matches
:class:`RateSpecificModule`'s resampling (TANet_FFN).

No adapters (``weight_alteration`` must stay False): FFN's adapter is a
per-channel scale in front of a block's first layer, and every block here
starts with a LayerNorm whose per-count affine already is one (an adapter
after it, on the qkv or FFN Linear, would be absorbed by it). The only conv
is the patch embedding, whose input is the RGB frames: their statistics do
not depend on the count.

The frame count is the number of input frames (the patch embedding is
2D, one frame at a time), and every count ``>= 1`` runs.
"""
import re
from typing import Dict, Optional

import torch
import torch.nn as nn
from einops import rearrange
from mmaction.models.backbones.timesformer import TimeSformer
from mmaction.registry import MODELS
from mmengine.runner.checkpoint import _load_checkpoint

from ...utils import check_frame_count, check_frame_counts
from ..layers import RateSpecificLayer, resample_frames
from .frame_flexible_3d import FrameFlexible3DMixin

__all__ = ['TimeSformer_FFN', 'RateSpecificTimeEmbedding']

_TIME_EMBED_KEY = re.compile(r'time_embed\.branches\.\d+')


def _holds_time_embedding(filename: str) -> bool:
    """Whether a checkpoint has a TimeSformer time embedding (stock or
    FFN), unlike the ImageNet ViT checkpoints the stock ``pretrained``
    converts."""
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    if isinstance(checkpoint, dict):
        checkpoint = checkpoint.get('state_dict', checkpoint)
    return any(
        re.search(r'(^|\.)time_embed($|\.branches\.)', str(key))
        for key in checkpoint)


class RateSpecificTimeEmbedding(RateSpecificLayer, nn.Module):
    """One learnable time embedding ``(1, T, D)`` per trained count ``T``.

    Adds the active count's embedding, resampled to the input's length when
    that differs (a count that was not trained), to tokens shaped
    ``(N, T', D)``.

    Args:
        embedding (torch.Tensor): The stock embedding ``(1, L, D)``; each
            count's copy starts as it, resampled to that count.
        frame_counts (Sequence[int]): Trained counts.
        active (int, optional): Count whose embedding is used. Defaults to
            the highest count.
    """
    _variants_name = 'branches'

    def __init__(self,
                 embedding: torch.Tensor,
                 frame_counts,
                 active: Optional[int] = None) -> None:
        super().__init__()
        counts = check_frame_counts(frame_counts)
        self.branches = nn.ParameterDict({
            str(count): nn.Parameter(
                resample_frames(embedding.detach(), count, dim=1).clone(),
                requires_grad=embedding.requires_grad)
            for count in counts
        })
        self.active = counts[-1] if active is None else active

    def embedding(self, num_frames: int) -> torch.Tensor:
        """The active embedding resampled to ``num_frames`` positions."""
        return resample_frames(self.branches[str(self._active)], num_frames, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, T', D)`` plus the embedding at ``T'`` frames."""
        return x + self.embedding(x.shape[1])

    def to_static(self, count: Optional[int] = None) -> nn.Parameter:
        """A copy of the embedding of ``count`` (default: the active one),
        the stock ``time_embed`` Parameter of a TimeSformer of that count."""
        weight = self.branches[str(self._active if count is None else count)]
        return nn.Parameter(weight.detach().clone(), weight.requires_grad)

    def extra_repr(self) -> str:
        return f'active={self._active}'


@MODELS.register_module()
class TimeSformer_FFN(FrameFlexible3DMixin, TimeSformer):
    """:class:`mmaction.models.TimeSformer` with FFN's rate-specific
    LayerNorms and per-count time embeddings.

    Initialisation is the stock one, run on a stock twin (``num_frames``
    frames) and copied into every per-count copy, the time embedding
    resampled to each count. ``pretrained`` may be what the stock takes (an
    ImageNet ViT in MMAction2's names, converted by the stock
    ``init_weights``) or a checkpoint holding a time embedding (a
    TimeSformer or TimeSformer_FFN, plain or a recognizer's), loaded by
    :meth:`load_pretrained` (the stock conversion would overwrite its
    spatial attentions with its temporal ones).

    Args:
        num_segments_list (Sequence[int]): Trained frame counts, distinct
            and sorted ascending. Defaults to ``(4, 8, 16)``.
        num_frames (int, optional): Length of the stock time embedding
            (that of a stock checkpoint); the branch of this count, if
            trained, is exactly the stock model. Defaults to the highest
            trained count.
        num_segments (int, optional): Frame count used outside a
            :meth:`frame_count` context. Defaults to the highest count.
        branch_policy (str): ``'nearest'`` (ties to the higher count) or
            ``'strict'``. Defaults to ``'nearest'``.
        weight_alteration (bool): Must be False: TimeSformer has no adapter
            site (see the module doc). Defaults to False.
        **kwargs: Arguments of :class:`TimeSformer` (``img_size``,
            ``patch_size``, ``embed_dims``, ``attention_type``,
            ``pretrained``, ...).
    """
    pretrained_kinds = 'a TimeSformer checkpoint (stock or FFN)'

    def __init__(self,
                 num_segments_list=(4, 8, 16),
                 num_frames: Optional[int] = None,
                 weight_alteration: bool = False,
                 **kwargs) -> None:
        if weight_alteration:
            raise ValueError(
                'TimeSformer_FFN takes weight_alteration=False only, got '
                f'{weight_alteration!r}: every block starts with a LayerNorm '
                'whose per-count affine already scales each channel per '
                'count, so it has no adapter site')
        counts = check_frame_counts(num_segments_list, 'num_segments_list')
        num_frames = counts[-1] if num_frames is None else check_frame_count(
            num_frames, 'num_frames')
        super().__init__(
            num_segments_list=counts,
            num_frames=num_frames,
            weight_alteration=False,
            **kwargs)

    def _make_frame_flexible(self, counts, default, *args) -> None:
        # The time embedding becomes per count before the generic
        # conversion, so frame-count switching finds it.
        if self.attention_type != 'space_only':
            stock = self.time_embed
            del self.time_embed
            self.time_embed = RateSpecificTimeEmbedding(stock, counts)
        super()._make_frame_flexible(counts, default, *args)

    def _frame_modules(self):
        # The backbone and the divided attentions hold the count as
        # ``num_frames`` (to split tokens into frames): it follows the count.
        if self._frame_module_cache is None:
            generic = super()._frame_modules()
            self._frame_module_cache = generic + tuple(
                (module, 'num_frames', 'frames') for module in self.modules()
                if isinstance(vars(module).get('num_frames'), int))
        return self._frame_module_cache

    def _resize_pretrained(self, key: str, tensor: torch.Tensor,
                           shape: torch.Size) -> Optional[torch.Tensor]:
        """A stock ``(1, L, D)`` time embedding resampled to the ``(1, T,
        D)`` of a branch, as at construction."""
        if (_TIME_EMBED_KEY.fullmatch(key) and tensor.dim() == 3
                and tensor.shape[::2] == shape[::2]):
            return resample_frames(tensor, shape[1], dim=1)
        return None

    def init_weights(self) -> None:
        """The stock init on a stock twin, copied into every per-count
        copy, then ``pretrained`` (see the class doc)."""
        pretrained = getattr(self, 'pretrained', None)
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError('pretrained must be a str or None, got '
                            f'{type(pretrained).__name__}')
        if pretrained and _holds_time_embedding(pretrained):
            self._init_from_stock(None)
            self.load_pretrained(pretrained)
        else:
            self._init_from_stock(pretrained or None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stock forward at the active count; the time embedding is
        the active branch's (resampled for an untrained count).

        Args:
            x (torch.Tensor): Clips ``(N, C, T, H, W)``, ``T`` the active
                count.

        Returns:
            torch.Tensor: The class token ``(N, embed_dims)``.
        """
        self._check_input(x)
        batches = x.shape[0]
        x = self.patch_embed(x)
        cls_tokens = self.cls_token.expand(x.size(0), -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embed
        x = self.drop_after_pos(x)
        if self.attention_type != 'space_only':
            cls_tokens = x[:batches, 0, :].unsqueeze(1)
            x = rearrange(x[:, 1:, :], '(b t) p m -> (b p) t m', b=batches)
            x = self.time_embed(x)
            x = self.drop_after_time(x)
            x = rearrange(x, '(b p) t m -> b (p t) m', b=batches)
            x = torch.cat((cls_tokens, x), dim=1)
        x = self.transformer_layers(x, None, None)
        if self.attention_type == 'space_only':
            x = x.view(-1, self._frame_count, *x.size()[-2:])
            x = torch.mean(x, 1)
        x = self.norm(x)
        return x[:, 0]

    def parameter_overhead(self) -> Dict[str, int]:
        """The mixin's count plus ``time_embedding``: the per-count
        embeddings beyond the stock one."""
        overhead = super().parameter_overhead()
        embedding = getattr(self, 'time_embed', None)
        extra = 0
        if isinstance(embedding, RateSpecificTimeEmbedding):
            extra = sum(p.numel() for p in embedding.branches.values())
            extra -= self._stock_kwargs['num_frames'] * self.embed_dims
        total = overhead.pop('total') + extra
        return dict(overhead, time_embedding=extra, total=total)
