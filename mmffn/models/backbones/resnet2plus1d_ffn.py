"""MMAction2's ResNet2Plus1d (R(2+1)D) made frame flexible.

As the other 3D ResNets (:mod:`.resnet3d_ffn`): every BatchNorm3d, the
middle ``bn_s`` of each (2+1)D conv included, gets a copy per frame count,
and a per-count depthwise 1x1x1 adapter goes in front of the first conv of
every block. There that conv is a :class:`Conv2plus1d`, a spatial ``conv_s``
then a temporal ``conv_t``: the adapter wraps ``conv_s``, which reads the
block input, and folds into it on deployment.
"""
from mmaction.models.backbones.resnet2plus1d import ResNet2Plus1d
from mmaction.models.backbones.resnet3d import BasicBlock3d, Bottleneck3d
from mmaction.registry import MODELS

from .resnet3d_ffn import _ResNet3dFamily

__all__ = ['ResNet2Plus1d_FFN']


@MODELS.register_module()
class ResNet2Plus1d_FFN(_ResNet3dFamily, ResNet2Plus1d):
    """:class:`mmaction.models.ResNet2Plus1d` with FFN's rate-specific norms
    and weight alteration; arguments: those of :class:`ResNet2Plus1d` and
    the keyword-only FFN arguments of :class:`FrameFlexibleMixin`."""
    adapter_sites = ((BasicBlock3d, 'conv1.conv.conv_s'),
                     (Bottleneck3d, 'conv1.conv.conv_s'))
    pretrained_kinds = 'a checkpoint of ResNet2Plus1d (stock or FFN)'
