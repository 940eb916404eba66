"""ResNetTSM_FFN: MMAction2's ResNetTSM turned into a Frame Flexible Network.

``ResNetTSM`` builds the structure; :class:`FrameFlexible2DMixin` then gives
every BatchNorm a copy per frame count and puts a weight-altered conv in
place of every block's first conv. All convolutions stay shared, and their
state-dict keys stay those of ResNetTSM.
"""
from typing import Any, Dict, Tuple

import torch.nn as nn
from mmaction.models.backbones.resnet import BasicBlock, Bottleneck
from mmaction.models.backbones.resnet_tsm import ResNetTSM
from mmaction.registry import MODELS

from .frame_flexible_2d import FrameFlexible2DMixin
from .stock_arguments import stock_argument

__all__ = ['ResNetTSM_FFN']


def _is_temporal_pool(module: nn.Module) -> bool:
    # ResNetTSM defines TemporalPool inside a method, so it has no importable
    # class; recognise it by name and by what it holds.
    return (type(module).__name__ == 'TemporalPool'
            and hasattr(module, 'max_pool3d')
            and hasattr(module, 'num_segments'))


@MODELS.register_module()
class ResNetTSM_FFN(FrameFlexible2DMixin, ResNetTSM):
    """:class:`mmaction.models.ResNetTSM` with FFN's rate-specific norms and
    weight alteration.

    Takes the arguments of ``ResNetTSM`` (and of ``ResNet``) as the stock
    class does, positional ones included (``ResNetTSM_FFN(50)``; a
    positional ``num_segments`` is the FFN ``num_segments``), and the
    keyword-only FFN arguments of :class:`FrameFlexibleMixin`. With
    ``temporal_pool=True`` every count must be even (the pool halves it).
    ``pretrained`` may name a local torchvision ResNet state dict, an
    MMAction2 TSM/ResNet checkpoint or a plain backbone state dict; the
    format is read from the keys, so ``pretrained2d`` and
    ``torchvision_pretrain`` are accepted but not needed.
    """

    # In 'blockres' mode ResNetTSM wraps conv1's conv in a TemporalShift: the
    # adapter then sees the shifted input.
    adapter_sites = ((BasicBlock, 'conv1'), (Bottleneck, 'conv1'))
    pretrained_kinds = 'a ResNet, ResNetTSM or FFN'

    def _stock_arguments(self, args: tuple, kwargs: Dict[str, Any],
                         counts: Tuple[int, ...],
                         default: int) -> Tuple[tuple, Dict[str, Any]]:
        if stock_argument(ResNetTSM, args, kwargs, 'temporal_pool'):
            odd = [c for c in counts + (default, ) if c % 2]
            if odd:
                raise ValueError('temporal_pool halves the frames, so every '
                                 'frame count must be even; got '
                                 f'{odd[0]} in {counts}')
        return super()._stock_arguments(args, kwargs, counts, default)

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
