"""FrameFlexible2DMixin: FrameFlexibleMixin for backbones fed frames.

A 2D backbone (TSM, TANet) reads ``(N * T, C, H, W)``: the frames of a clip
are consecutive rows of the batch, and the stock class holds the frame
count as ``num_segments`` (its temporal modules split the batch into clips
with it). The stock class gets the default count there; every temporal
module follows the active count. Everything else (per-count norms,
adapters, branch selection, ``frame_count``, initialisation and loading)
is the generic mixin's.
"""
import torch
import torch.nn as nn
from mmengine.logging import MMLogger

from ..layers import RateSpecificBatchNorm
from .frame_flexible import FrameFlexibleMixin

__all__ = ['FrameFlexible2DMixin']


class FrameFlexible2DMixin(FrameFlexibleMixin):
    """Frame-count switching for a stock MMAction2 2D backbone.

    A family is ``class X_FFN(FrameFlexible2DMixin, X)`` with its
    ``adapter_sites``; the FFN arguments are those of
    :class:`FrameFlexibleMixin`. The stock ``num_segments`` is the FFN
    ``num_segments``: given positionally (``ResNetTSM_FFN(50, 8)``) it
    means the same count.
    """
    count_argument = 'num_segments'

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x``, ``(N * T, C, H, W)``, holds whole
        clips of the active count ``T``."""
        if x.shape[0] % self._frame_count:
            raise ValueError(
                f'{type(self).__name__} got a batch of {x.shape[0]} frames, '
                'which is not a multiple of the frame count '
                f'{self._frame_count}; inputs hold whole clips, '
                '(N * T, C, H, W), with T set by '
                '`with backbone.frame_count(T):`')

    def _partial_bn(self) -> None:
        """Freeze every BatchNorm2d except the first one, as ResNet's
        ``partial_bn`` does, with all frame-count copies of each.

        ResNet counts ``nn.BatchNorm2d`` modules; counting the copies would
        freeze the stem's copies of the 2nd and later counts, and counting
        every norm would also freeze the BatchNorm3d of non-local blocks.
        """
        if not self.rate_specific_norms:
            return super()._partial_bn()  # one norm per layer, as stock
        logger = MMLogger.get_current_instance()
        logger.info('Freezing BatchNorm2D except the first one (all its '
                    'frame-count copies).')
        norms = [
            m for m in self.modules() if isinstance(m, RateSpecificBatchNorm)
            and isinstance(m.branch(), nn.BatchNorm2d)
        ]
        for norm in norms[1:]:
            for bn in norm.branches.values():
                bn.eval()
                bn.weight.requires_grad = False
                bn.bias.requires_grad = False
