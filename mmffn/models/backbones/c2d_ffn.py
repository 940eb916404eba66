"""MMAction2's C2D made frame flexible.

C2D is a 2D ResNet run on every frame of an ``(N, C, T, H, W)`` clip, with
two 3D max pools (the stem's, spatial; after ``layer1``, halving ``T``).
:class:`FrameFlexible3DMixin` (3D input, the count read from the clip)
gives every BatchNorm2d a copy per frame count and puts a per-count
depthwise 1x1 adapter in front of ``conv1`` of every block, as FFN's TSM.
No weight is shaped by the count; a count must be at least 2 (the temporal
pool).
"""
from mmaction.models.backbones.c2d import C2D
from mmaction.models.backbones.resnet import BasicBlock, Bottleneck
from mmaction.registry import MODELS

from .frame_flexible_3d import FrameFlexible3DMixin

__all__ = ['C2D_FFN']


@MODELS.register_module()
class C2D_FFN(FrameFlexible3DMixin, C2D):
    """:class:`mmaction.models.C2D` with FFN's rate-specific norms and
    weight alteration; arguments: those of :class:`C2D` (MMAction2's
    ``ResNet``: ``depth``, ``pretrained``, ``torchvision_pretrain``, ...)
    and the keyword-only FFN arguments of :class:`FrameFlexibleMixin`.

    Initialisation is the stock one on a stock twin, copied into every
    copy; a torchvision checkpoint (``torchvision_pretrain``, the recipes'
    ImageNet ResNet) is loaded by the twin as the stock C2D loads it, any
    other ``pretrained`` (stock or FFN C2D) into every copy.
    """
    adapter_sites = ((Bottleneck, 'conv1'), (BasicBlock, 'conv1'))
    pretrained_kinds = 'a torchvision ResNet or a C2D checkpoint'

    def init_weights(self) -> None:
        pretrained = getattr(self, 'pretrained', None)
        if isinstance(pretrained, str) and self.torchvision_pretrain:
            self._init_from_stock(pretrained)
            self.reset_weight_alteration()
        else:
            super().init_weights()
