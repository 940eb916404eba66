"""ResNet_FFN: MMAction2's plain 2D ResNet (TSN, TRN, C2D-nopool) made frame
flexible.

``ResNet`` builds the structure; :class:`FrameFlexible2DMixin` gives every
BatchNorm a copy per frame count and puts a per-count adapter in front of
the first conv of every block, as for ``ResNetTSM_FFN``. Convolutions stay
shared and keep ResNet's state-dict keys.

The stock ResNet has no temporal module and no ``num_segments``: frames run
one by one, so the count only selects the branch (norm copies, adapters)
and checks that a batch holds whole clips. ``count_argument`` is None, so
the FFN ``num_segments`` (the count outside a ``frame_count`` context) is
never given to the stock class, and the backbone has no ``num_segments``
attribute, as the stock one (``active_frame_count`` tells the count).
"""
from mmaction.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmaction.registry import MODELS

from .frame_flexible_2d import FrameFlexible2DMixin

__all__ = ['ResNet_FFN']


@MODELS.register_module()
class ResNet_FFN(FrameFlexible2DMixin, ResNet):
    """:class:`mmaction.models.ResNet` with FFN's rate-specific norms and
    weight alteration.

    Takes the arguments of ``ResNet`` as the stock class does, positional
    ones included (``ResNet_FFN(50)``), and the keyword-only FFN arguments
    of :class:`FrameFlexibleMixin`. ``pretrained`` may name a local
    torchvision ResNet state dict, an MMAction2 ResNet/TSN checkpoint or a
    plain backbone state dict (the format is read from the keys, so
    ``torchvision_pretrain`` is accepted but not needed); it fills every
    count's copy.
    """

    # conv1 (a ConvModule) is the first conv reading a block's input.
    adapter_sites = ((BasicBlock, 'conv1'), (Bottleneck, 'conv1'))
    pretrained_kinds = 'a ResNet, TSN or FFN'
    # ResNet takes no frame count; the mixin keeps it (see the module doc).
    count_argument = None
