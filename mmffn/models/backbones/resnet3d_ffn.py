"""MMAction2's 3D ResNets made frame flexible: ResNet3d (I3D),
ResNet3dSlowOnly and ResNet3dSlowFast.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every BatchNorm3d (stem, the convs of each block, downsample, and the
lateral connections where ``lateral_norm`` gives them one) a copy per frame
count and puts a per-count depthwise 1x1x1 adapter in front of the first
conv of every block (both pathways of SlowFast), as the FFN authors' SlowFast
does. Convs and the head stay shared; state-dict keys stay the stock ones
plus ``branches.<T>`` / ``alteration.<T>``.

For SlowFast the frame count is the slow pathway's: a clip of ``T *
resample_rate`` frames, of which the slow pathway sees ``T`` and the fast
one ``T * speed_ratio`` (the paper's 4/8/16 slow, 16/32/64 fast with
``resample_rate=speed_ratio=4``).
"""
from typing import Optional

from mmaction.models.backbones.resnet3d import (BasicBlock3d, Bottleneck3d,
                                                ResNet3d)
from mmaction.models.backbones.resnet3d_slowfast import ResNet3dSlowFast
from mmaction.models.backbones.resnet3d_slowonly import ResNet3dSlowOnly
from mmaction.registry import MODELS

from .frame_flexible_3d import FrameFlexible3DMixin

__all__ = ['ResNet3d_FFN', 'ResNet3dSlowOnly_FFN', 'ResNet3dSlowFast_FFN']


class _ResNet3dFamily(FrameFlexible3DMixin):
    """What the 3D ResNets share: an adapter in front of ``conv1`` of every
    block. Arguments: those of the stock class, positional ones included
    (``ResNet3d_FFN(34, None)``), and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin` (for SlowFast the counts are the slow
    pathway's)."""
    adapter_sites = ((Bottleneck3d, 'conv1'), (BasicBlock3d, 'conv1'))
    pretrained_kinds = 'a 3D checkpoint of the stock backbone or an FFN'


@MODELS.register_module()
class ResNet3d_FFN(_ResNet3dFamily, ResNet3d):
    """:class:`mmaction.models.ResNet3d` (I3D and its relatives) with FFN's
    rate-specific norms and weight alteration; see ``_ResNet3dFamily``."""


@MODELS.register_module()
class ResNet3dSlowOnly_FFN(_ResNet3dFamily, ResNet3dSlowOnly):
    """:class:`mmaction.models.ResNet3dSlowOnly` with FFN's rate-specific
    norms and weight alteration; see ``_ResNet3dFamily``."""


@MODELS.register_module()
class ResNet3dSlowFast_FFN(_ResNet3dFamily, ResNet3dSlowFast):
    """:class:`mmaction.models.ResNet3dSlowFast` with FFN's rate-specific
    norms and weight alteration in both pathways; the frame count is the
    slow pathway's (see the module doc)."""

    def input_frames(self, count: Optional[int] = None) -> int:
        count = self._frame_count if count is None else count
        return count * self.resample_rate
