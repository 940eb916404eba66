"""ResNetTSM_FFN: MMAction2's ResNetTSM turned into a Frame Flexible Network.

``ResNetTSM`` builds the structure; :class:`FrameFlexibleMixin` then gives
every BatchNorm a copy per frame count and puts a weight-altered conv in
place of every block's first conv. All convolutions stay shared, and their
state-dict keys stay those of ResNetTSM.
"""
from typing import Optional

import torch.nn as nn
from mmaction.models.backbones.resnet import BasicBlock, Bottleneck
from mmaction.models.backbones.resnet_tsm import ResNetTSM
from mmaction.registry import MODELS
from mmengine.model import BaseModule

from .frame_flexible import FrameFlexibleMixin


def _is_temporal_pool(module: nn.Module) -> bool:
    # ResNetTSM defines TemporalPool inside a method, so it has no importable
    # class; recognise it by name and by what it holds.
    return (type(module).__name__ == 'TemporalPool'
            and hasattr(module, 'max_pool3d')
            and hasattr(module, 'num_segments'))


@MODELS.register_module()
class ResNetTSM_FFN(FrameFlexibleMixin, ResNetTSM):
    """ResNetTSM with FFN's rate-specific norms and weight alteration.

    Accepts every argument of :class:`mmaction.models.ResNetTSM` (and of
    ``ResNet``), plus the FFN ones below. ``pretrained`` may name a local
    torchvision ResNet state dict, an MMAction2 TSM/ResNet checkpoint or a
    plain backbone state dict; the format is read from the keys, so
    ``pretrained2d``/``torchvision_pretrain`` are accepted but not needed.

    Args:
        depth (int): Depth of the ResNet, from ``{18, 34, 50, 101, 152}``.
        num_segments_list (Sequence[int]): Trained frame counts, distinct and
            sorted ascending. Defaults to ``(4, 8, 16)``.
        num_segments (int, optional): Frame count used outside a
            :meth:`frame_count` context. Defaults to the highest trained
            count.
        branch_policy (str): Branch used for a count that was not trained:
            ``'nearest'`` (nearest trained count, ties to the higher one) or
            ``'strict'`` (raise ValueError). The temporal modules always use
            the real count. Defaults to ``'nearest'``.
        weight_alteration (bool): Whether to add the per-count adapters in
            front of every block's first conv. Defaults to True.
        alteration_init_std (float): Std of the adapters' normal init.
            Defaults to 1e-3.
        rate_specific_norms (bool): Whether every count gets its own norms
            (specialised normalisation); False shares them (an ablation).
            Defaults to True.
        **kwargs: Arguments of ``ResNetTSM`` (``shift_div``, ``shift_place``,
            ``is_shift``, ``temporal_pool``, ``non_local``, ``norm_cfg``,
            ``norm_eval``, ``partial_bn``, ``frozen_stages``, ...).
    """

    # In 'blockres' mode ResNetTSM wraps conv1's conv in a TemporalShift: the
    # adapter then sees the shifted input.
    adapter_sites = ((BasicBlock, 'conv1'), (Bottleneck, 'conv1'))
    pretrained_kinds = 'a ResNet, ResNetTSM or FFN'

    def __init__(self,
                 depth: int,
                 num_segments_list=(4, 8, 16),
                 num_segments: Optional[int] = None,
                 branch_policy: str = 'nearest',
                 weight_alteration: bool = True,
                 alteration_init_std: float = 1e-3,
                 rate_specific_norms: bool = True,
                 **kwargs) -> None:
        counts, default = self._check_frame_arguments(num_segments_list,
                                                      num_segments,
                                                      branch_policy,
                                                      alteration_init_std,
                                                      kwargs)
        if kwargs.get('temporal_pool', False):
            odd = [c for c in counts + (default, ) if c % 2]
            if odd:
                raise ValueError('temporal_pool halves the frames, so every '
                                 'frame count must be even; got '
                                 f'{odd[0]} in {counts}')
        super().__init__(depth, num_segments=default, **kwargs)
        self._make_frame_flexible(counts, default, branch_policy,
                                  weight_alteration, alteration_init_std,
                                  rate_specific_norms)

    def _frame_kind(self, name: str, module: nn.Module) -> str:
        """With temporal_pool, layer2 pools T -> T // 2 before its blocks:
        the temporal modules behind it see half the frames."""
        behind_pool = name.split('.')[0] in self.res_layers[1:]
        if self.temporal_pool and behind_pool and not _is_temporal_pool(
                module):
            return 'pooled'
        return 'frames'

    def _set_frame_count(self, num_frames: int):
        if self.temporal_pool and num_frames % 2:
            raise ValueError('temporal_pool halves the frames, so the frame '
                             f'count must be even, got {num_frames}')
        return super()._set_frame_count(num_frames)

    def _init_from_scratch(self) -> None:
        # BaseModule's init (init_cfg: Kaiming convs, constant BN) skips
        # ResNet(TSM).init_weights' own checkpoint logic on purpose: this
        # works with pretrained=None whatever pretrained2d says.
        BaseModule.init_weights(self)
