"""MMAction2's MViT (v2) made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every LayerNorm a copy per frame count: ``norm1``/``norm2`` of every
:class:`MultiScaleBlock`, the ``norm_q``/``norm_k``/``norm_v`` of its pooled
attention and the output norms ``norm<i>``. Linear layers, the pooling and
patch convs, ``cls_token`` and the spatial relative positions stay shared.

The frame count ``T`` is the number of input frames. The patch embedding
(kernel 3, stride 2, padding 1 in time for every packaged config) gives
``t(T) = ceil(T / 2)`` token frames, which every block keeps (attention
pooling is spatial in time: stride 1). The stock ``temporal_size`` is the
input length the weights were built for (the recipes' 16, 32 or 40), not a
trained count; a trained count ``T`` equals it or not.

Weights shaped by the count, each made one learnable copy per trained count
as TimeSformer_FFN's time embedding is (keys ``<name>.branches.<T>``):

* ``rel_pos_t`` of every attention, ``(2 t - 1, head_dim)``: the temporal
  relative positions; copy ``T`` has ``2 t(T) - 1`` rows;
* ``pos_embed`` (only with ``use_abs_pos_embed``; no packaged recipe uses
  it), ``(1, 1 + t h w, C)``: copy ``T`` covers ``t(T)`` token frames.

Why per count: MMAction2's forward already resizes both to the input (linear
``rel_pos_t``, trilinear ``pos_embed``), so one shared weight would run, but
a relative offset of one token frame spans four times more time at 4 frames
than at 16; as for the norms, FFN gives such count-specific statistics
private parameters. Each copy starts as the stock forward would use the
stock weight at that count: resized by MMAction2's own rule (linear,
``align_corners=False``, as ``resize_decomposed_rel_pos`` and the MaskFeat
loader do; ``resize_pos_embed``), so a freshly converted model computes the
stock model at every count, and the copy of ``temporal_size`` is the stock
weight itself. A count that was not trained uses the nearest trained
branch, whose copies the stock forward resizes to the input as it does for
any length (gradients reach the branch). A stock MViT of
``temporal_size=T`` holds exactly branch ``T`` (deployment).

No adapters (``weight_alteration`` must stay False): FFN's adapter is a
per-channel scale in front of a block's first layer; every block starts
with ``norm1``, a LayerNorm whose per-count affine already is one (an
adapter on the ``qkv`` or skip ``proj`` Linear after it would be absorbed).
The only other convs are the depthwise attention poolings, inside the
attention after ``qkv``, and the patch embedding, which reads the RGB
frames, whose statistics do not depend on the count.
"""
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models.backbones.mvit import (MultiScaleAttention, MViT,
                                            resize_pos_embed)
from mmaction.registry import MODELS

from ...utils import check_frame_counts
from ..layers import RateSpecificLayer
from .frame_flexible_3d import FrameFlexible3DMixin

__all__ = ['MViT_FFN', 'PerCountWeight']


class PerCountWeight(RateSpecificLayer, nn.Module):
    """One learnable weight per trained count (``branches.<T>``), for a
    stock module that reads a plain Parameter attribute.

    :class:`MViT_FFN` registers it in place of the stock Parameter, under
    the same name, and puts the active copy in the owner's ``__dict__``,
    where attribute lookup finds it before ``nn.Module``'s registries: the
    stock forward reads ``self.rel_pos_t`` as before. ``to_static`` gives
    the Parameter of a stock model back.

    Args:
        copies (dict[int, torch.Tensor]): The weight of each trained count.
        requires_grad (bool): Whether the copies are learnable.
        active (int, optional): Count whose copy is used. Defaults to the
            highest count.
    """
    _variants_name = 'branches'

    def __init__(self,
                 copies: Dict[int, torch.Tensor],
                 requires_grad: bool = True,
                 active: Optional[int] = None) -> None:
        super().__init__()
        counts = check_frame_counts(tuple(copies))
        # An OrderedDict: ParameterDict sorts a plain dict's keys as strings.
        self.branches = nn.ParameterDict(
            OrderedDict(
                (str(count),
                 nn.Parameter(copies[count].detach().clone(), requires_grad))
                for count in counts))
        self.active = counts[-1] if active is None else active

    def weight(self, count: Optional[int] = None) -> nn.Parameter:
        """The copy of ``count`` (default: the active one)."""
        return self.branches[str(self._active if count is None else count)]

    def to_static(self, count: Optional[int] = None) -> nn.Parameter:
        weight = self.weight(count)
        return nn.Parameter(weight.detach().clone(), weight.requires_grad)

    def extra_repr(self) -> str:
        return f'active={self._active}'


def resize_rel_pos(rel_pos: torch.Tensor, length: int) -> torch.Tensor:
    """``(L, C)`` relative positions resized to ``length`` rows as
    MMAction2's MViT does (linear, ``align_corners=False``)."""
    if rel_pos.shape[0] == length:
        return rel_pos
    resized = F.interpolate(
        rel_pos.t().unsqueeze(0), size=length, mode='linear')
    return resized.squeeze(0).t()


@MODELS.register_module()
class MViT_FFN(FrameFlexible3DMixin, MViT):
    """:class:`mmaction.models.MViT` with FFN's rate-specific LayerNorms and
    per-count temporal positions.

    Arguments: those of :class:`MViT` (``arch``, ``temporal_size``,
    ``spatial_size``, ``pretrained``, ``pretrained_type``, ...), positional
    ones included, and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`; the counts are input frames.
    ``temporal_size`` keeps its stock meaning (see the module doc).
    ``weight_alteration`` must stay False.

    Initialisation is the stock one, run on a stock twin (``pretrained``,
    ``pretrained_type`` and ``init_cfg`` included: an MViT checkpoint, a
    MaskFeat one with its stock resizing) and copied into every per-count
    copy, the temporal positions resized to each count (see the module
    doc). :meth:`load_pretrained` also takes an FFN checkpoint.
    """
    pretrained_kinds = 'an MViT checkpoint (stock or FFN)'

    def token_frames(self, count: int) -> int:
        """Token frames of the patch embedding for ``count`` input frames
        (its conv, and its adaptive padding if any, in time)."""
        embed = self.patch_embed
        conv = embed.projection
        if embed.adaptive_padding is not None:
            count += embed.adaptive_padding.get_pad_shape((count, 1, 1))[0]
        span = conv.dilation[0] * (conv.kernel_size[0] - 1) + 1
        return (count + 2 * conv.padding[0] - span) // conv.stride[0] + 1

    def _grid(self, count: int) -> Tuple[int, int, int]:
        """The token grid of branch ``count``: its token frames, the stock
        spatial grid."""
        return (self.token_frames(count), ) + tuple(self.patch_resolution[1:])

    def _before_conversion(self, counts: Tuple[int, ...],
                           default: int) -> None:
        """Every count-shaped weight made per count, resized from the stock
        one (see the module doc)."""
        self._stock_grid = tuple(self.patch_resolution)
        self._count_shaped: List[Tuple[nn.Module, str]] = []
        for attention in self.modules():
            if isinstance(attention,
                          MultiScaleAttention) and attention.rel_pos_embed:
                self._make_per_count(attention, 'rel_pos_t', counts)
        if self.use_abs_pos_embed:
            self._make_per_count(self, 'pos_embed', counts)

    def _make_per_count(self, owner: nn.Module, name: str,
                        counts: Tuple[int, ...]) -> None:
        stock = getattr(owner, name)
        delattr(owner, name)
        copies = {
            count: self._resized(name, stock.detach(), count)
            for count in counts
        }
        setattr(owner, name,
                PerCountWeight(copies, requires_grad=stock.requires_grad))
        self._count_shaped.append((owner, name))

    def _resized(self, name: str, weight: torch.Tensor,
                 count: int) -> torch.Tensor:
        """A stock ``rel_pos_t`` or ``pos_embed`` of any length made into
        that of branch ``count``."""
        grid = self._grid(count)
        if name == 'rel_pos_t':
            return resize_rel_pos(weight, 2 * grid[0] - 1)
        spatial = grid[1] * grid[2]
        source = ((weight.shape[1] - self.num_extra_tokens) // spatial, ) + \
            grid[1:]
        return resize_pos_embed(
            weight,
            source,
            grid,
            mode=self.interpolate_mode,
            num_extra_tokens=self.num_extra_tokens)

    def _set_frame_count(self, num_frames: int) -> List[tuple]:
        """The mixin's switch, plus: the active copy of every count-shaped
        weight where the stock forward reads it, and the stock grid
        attribute ``patch_resolution`` set to the branch's (the grid its
        ``pos_embed`` copy covers)."""
        previous = super()._set_frame_count(num_frames)
        branch = self.branch_for(num_frames)
        state = vars(self)
        previous.append((self, 'patch_resolution', state['patch_resolution']))
        state['patch_resolution'] = self._grid(branch)
        for owner, name in self._count_shaped:
            previous.append((owner, name, vars(owner).get(name)))
            vars(owner)[name] = owner._modules[name].weight()
        return previous

    def _resize_pretrained(self, key: str, tensor: torch.Tensor,
                           shape: torch.Size) -> Optional[torch.Tensor]:
        """A stock (or other count's) ``rel_pos_t`` or ``pos_embed``
        resized to the copy of its branch, as at construction."""
        name = key.rsplit('.branches.', 1)[0].rsplit('.', 1)[-1]
        if '.branches.' not in key or name not in ('rel_pos_t', 'pos_embed'):
            return None
        count = int(key.rsplit('.', 1)[-1])
        if tensor.dim() != len(shape) or tensor.shape[-1] != shape[-1]:
            return None
        resized = self._resized(name, tensor, count)
        return resized if resized.shape == shape else None

    def init_weights(self) -> None:
        """The stock init, with the stock ``pretrained`` handling, on a
        stock twin, copied into every per-count copy."""
        self._init_from_stock(self._stock_value('pretrained'))

    def parameter_overhead(self) -> Dict[str, int]:
        """The mixin's count plus ``temporal_positions``: the per-count
        ``rel_pos_t`` and ``pos_embed`` copies beyond the stock weights
        (those of ``temporal_size``)."""
        overhead = super().parameter_overhead()
        extra = 0
        t, h, w = self._stock_grid
        for owner, name in self._count_shaped:
            copies = list(owner._modules[name].branches.values())
            dims = next(iter(copies)).shape[-1]
            stock = (2 * t - 1 if name == 'rel_pos_t' else
                     self.num_extra_tokens + t * h * w) * dims
            extra += sum(p.numel() for p in copies) - stock
        total = overhead.pop('total') + extra
        return dict(overhead, temporal_positions=extra, total=total)
