"""MMAction2's ResNet3dCSN (ir-CSN, ip-CSN) made frame flexible.

As the other 3D ResNets (:mod:`.resnet3d_ffn`): every BatchNorm3d (stem,
each conv of a block, the 1x1x1 conv of ip-CSN's conv2, downsample) gets a
copy per frame count, and a per-count depthwise 1x1x1 adapter goes in front
of ``conv1`` of every :class:`CSNBottleneck3d`, the 1x1x1 conv reading the
block input (its depthwise conv2 follows conv1's per-count BN, which would
absorb an adapter there). Convs and the head stay shared; the stock
``train`` (``norm_eval``, ``bn_frozen``) reaches every copy.

No weight is shaped by the frame count and any count runs: the temporal
strides are padded convs, so a short clip keeps at least one frame.
"""
from mmaction.models.backbones.resnet3d_csn import CSNBottleneck3d, ResNet3dCSN
from mmaction.registry import MODELS

from .resnet3d_ffn import _ResNet3dFamily

__all__ = ['ResNet3dCSN_FFN']


@MODELS.register_module()
class ResNet3dCSN_FFN(_ResNet3dFamily, ResNet3dCSN):
    """:class:`mmaction.models.ResNet3dCSN` with FFN's rate-specific norms
    and weight alteration; arguments: those of :class:`ResNet3dCSN`
    (``depth``, ``pretrained``, ``bottleneck_mode``, ``bn_frozen``, ...) and
    the keyword-only FFN arguments of :class:`FrameFlexibleMixin`."""
    adapter_sites = ((CSNBottleneck3d, 'conv1'), )
    pretrained_kinds = 'a 3D checkpoint of ResNet3dCSN (stock or FFN)'
