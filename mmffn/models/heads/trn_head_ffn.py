"""TRNHead_FFN: MMAction2's TRN head made frame flexible.

TRN's relation module is built for ``num_segments`` frames: the ``TRN``
relation is an MLP over the ``T`` frame features concatenated
(``Linear(T * hidden_dim, 512)``), the ``TRNMultiScale`` one an MLP per
scale ``s = T, ..., 2`` over ordered ``s``-frame subsets
(``Linear(s * hidden_dim, 256)``). These weights are shaped by the count,
so every trained count ``T`` keeps its own whole relation module, built by
MMAction2 for ``T`` (:class:`RelationModules`, keys
``consensus.branches.<T>.<stock keys>``); the frame projection ``fc_cls``
(``in_channels -> hidden_dim``, one frame at a time) stays shared. At a
trained count the head is exactly a stock ``TRNHead(num_segments=T)``
holding that copy.

Start of each copy (the rule of TimeSformer_FFN's time embedding): the head
builds the stock module at ``num_segments`` (``S``, that of a stock
checkpoint, by default the highest count; at ``T == S`` the copy is that
module itself), and the copy of ``T`` starts from it resampled in time:

* ``TRN``: the first Linear's weight, read as ``(out, S, hidden_dim)``, is
  resampled linearly along the frames to ``T`` (``align_corners=True``)
  and scaled by ``S / T``, so a clip whose features do not change in time
  gets about the same response at every count; the rest is copied.
* ``TRNMultiScale``: an ``s``-frame relation means the same at every count
  (``s`` ordered frames of the clip), so the MLP of scale ``s <= S`` is the
  stock one of scale ``s``; a scale ``s > S`` starts from the stock scale
  ``S`` resampled from ``S`` to ``s`` frames as above.

Building the copies draws nothing from the global RNG, so the rest of a
model is initialised as the stock one.

A count ``T'`` that was not trained is served by the nearest trained copy
``T`` (ties to the higher, as the backbones' ``branch_policy='nearest'``)
on the ``T'`` frame features linearly resampled to ``T``.
``TRNMultiScale`` needs at least 2 frames per trained count.

The FFN recognizers set ``num_segments`` to the clip's count before the
head runs (as for TSMHead), which selects the copy.
"""
import copy
from typing import Optional, Sequence

import torch
import torch.nn as nn
from mmaction.models.heads.trn_head import (RelationModule,
                                            RelationModuleMultiScale, TRNHead)
from mmaction.registry import MODELS

from ...utils import check_frame_count, check_frame_counts
from ..backbones.frame_flexible import FrameFlexibleMixin
from ..layers import RateSpecificModule, resample_frames

__all__ = ['TRNHead_FFN', 'RelationModules', 'relation_module_for']

_RELATIONS = (RelationModule, RelationModuleMultiScale)


@torch.no_grad()
def _fill_mlp(target: nn.Sequential, source: nn.Sequential,
              hidden_dim: int) -> None:
    """Fill a relation MLP (ReLU, Linear, ReLU, Linear) whose first Linear
    reads ``f`` frames x ``hidden_dim`` from ``source``, built for ``k``
    frames: that Linear's weight resampled along the frames from ``k`` to
    ``f`` and scaled by ``k / f``, everything else copied."""
    first, known = target[1], source[1]
    frames = first.in_features // hidden_dim
    count = known.in_features // hidden_dim
    weight = known.weight.reshape(known.out_features, count, hidden_dim)
    weight = resample_frames(weight, frames, dim=1) * (count / frames)
    first.weight.copy_(weight.reshape(first.weight.shape))
    first.bias.copy_(known.bias)
    target[3].load_state_dict(source[3].state_dict())


def relation_module_for(stock: nn.Module, frames: int) -> nn.Module:
    """The relation module of ``frames`` frames started from ``stock`` (a
    ``RelationModule`` or ``RelationModuleMultiScale``), see the module
    doc."""
    if not isinstance(stock, _RELATIONS):
        raise TypeError('expected a TRN relation module, got '
                        f'{type(stock).__name__}')
    if stock.num_segments == frames:
        return copy.deepcopy(stock)
    # The constructor's random init is overwritten; the global RNG is left
    # as it was, so what is built after the head does not change.
    with torch.random.fork_rng(devices=[]):
        module = type(stock)(stock.hidden_dim, frames, stock.num_classes)
    if isinstance(stock, RelationModuleMultiScale):
        for index, scale in enumerate(module.scales):
            known = min(scale, stock.num_segments)
            _fill_mlp(module.fc_fusion_scales[index],
                      stock.fc_fusion_scales[stock.num_segments - known],
                      stock.hidden_dim)
    else:
        _fill_mlp(module.classifier, stock.classifier, stock.hidden_dim)
    return module


class RelationModules(RateSpecificModule):
    """One relation module per trained count; features ``(N, T', hidden)``
    of an untrained count are resampled to the active count first."""

    def init_weights(self) -> None:
        """The stock relation modules' own (a no-op in MMAction2 1.2.0:
        their Linears keep PyTorch's init), for every copy."""
        for branch in self.branches.values():
            branch.init_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The stock relation modules flatten with ``view``: contiguous.
        x = resample_frames(x, self._active, dim=1).contiguous()
        return self.branch()(x)


@MODELS.register_module()
class TRNHead_FFN(TRNHead):
    """:class:`mmaction.models.TRNHead` with one relation module per
    trained frame count (see the module doc).

    Args:
        num_classes, in_channels: As ``TRNHead``.
        num_segments (int, optional): The count of the stock relation module
            every copy starts from (that of a stock checkpoint), and the
            count the head runs at until a recognizer sets another.
            Defaults to the highest trained count.
        num_segments_list (Sequence[int]): Trained counts, keyword only.
            Defaults to ``(4, 8, 16)``.
        **kwargs: The other arguments of ``TRNHead`` (``relation_type``,
            ``hidden_dim``, ``dropout_ratio``, ...).
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 num_segments: Optional[int] = None,
                 *args,
                 num_segments_list: Sequence[int] = (4, 8, 16),
                 **kwargs) -> None:
        counts = check_frame_counts(num_segments_list, 'num_segments_list')
        stock_count = counts[-1] if num_segments is None else (
            check_frame_count(num_segments, 'num_segments'))
        relation_type = kwargs.get('relation_type', 'TRNMultiScale')
        if relation_type == 'TRNMultiScale' and min(counts +
                                                    (stock_count, )) < 2:
            raise ValueError(
                'TRNMultiScale relates at least 2 frames, so every count must '
                f'be at least 2; got num_segments_list={counts}, '
                f'num_segments={stock_count}')
        super().__init__(num_classes, in_channels, stock_count, *args,
                         **kwargs)
        self.num_segments_list = counts
        stock = self.consensus
        del self.consensus
        self.consensus = RelationModules.from_factory(
            lambda count: relation_module_for(stock, count), counts)

    # The backbones' rule: the count itself if trained, else the nearest
    # trained count (ties to the higher); a strict backbone has refused an
    # untrained count before the head runs.
    branch_policy = 'nearest'
    branch_for = FrameFlexibleMixin.branch_for

    def forward(self,
                x: torch.Tensor,
                num_segs: Optional[int] = None,
                **kwargs) -> torch.Tensor:
        """The stock forward with the relation module of the copy that
        serves ``num_segments`` frames.

        Args:
            x (torch.Tensor): Frame features ``(N * num_segments, C, H,
                W)``.
            num_segs (int): Not read, as in ``TRNHead``.

        Returns:
            torch.Tensor: Class scores ``(N, num_classes)``.
        """
        self.consensus.active = self.branch_for(self.num_segments)
        return super().forward(x, num_segs, **kwargs)
