"""MobileNetV2TSM_FFN: MMAction2's MobileNetV2TSM made frame flexible.

``MobileNetV2TSM`` builds the structure; :class:`FrameFlexible2DMixin` then
gives every BatchNorm a copy per frame count and puts a weight-altered conv
in place of the first conv of every ``InvertedResidual``. All convolutions
stay shared, and their state-dict keys stay those of MobileNetV2TSM.
"""
import re

from mmaction.models.backbones.mobilenet_v2 import InvertedResidual
from mmaction.models.backbones.mobilenet_v2_tsm import MobileNetV2TSM
from mmaction.registry import MODELS

from .checkpoint_conversion import PretrainedConversion
from .frame_flexible_2d import FrameFlexible2DMixin

__all__ = ['MobileNetV2TSM_FFN']

# torchvision's MobileNetV2 names its layers ``features.<i>...``.
_TORCHVISION_KEY = re.compile(r'(^|\.)features\.\d+\.')


@MODELS.register_module()
class MobileNetV2TSM_FFN(FrameFlexible2DMixin, MobileNetV2TSM):
    """:class:`mmaction.models.MobileNetV2TSM` with FFN's rate-specific
    norms and weight alteration.

    Takes the arguments of ``MobileNetV2TSM`` (and of ``MobileNetV2``) as
    the stock class does (a positional ``num_segments`` is the FFN
    ``num_segments``), and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`. ``pretrained`` may name a local
    MMAction2/MMPretrain MobileNetV2 checkpoint (2D), a MobileNetV2TSM
    checkpoint or an FFN one, loaded into every branch by
    :meth:`init_weights`; the format is read from the keys, so
    ``pretrained2d`` is accepted but not needed. torchvision's MobileNetV2
    naming (``features.*``) is not supported.
    """

    # Stock TSM shifts only the expanding blocks with a residual; their
    # conv.0 is TemporalShift(ConvModule), so the adapter sits behind the
    # shift. Like ResNetTSM_FFN (an adapter on every block, shifted or not),
    # every other block gets one too: FFN adapts each block's input, and the
    # per-count statistics differ there as well. With expand_ratio == 1,
    # conv.0 is the depthwise 3x3 conv (the adapter handles groups).
    adapter_sites = ((InvertedResidual, 'conv.0'), )
    pretrained_kinds = 'an MMAction2 MobileNetV2, MobileNetV2TSM or FFN'
    # MobileNetV2 would turn `pretrained` into a 'Pretrained' init_cfg,
    # loaded by MMEngine with stock keys (no per-count copies, and not
    # through the temporal shift).
    keep_pretrained_from_stock = True

    # No _init_from_scratch of its own: MobileNetV2 has no init_weights, so
    # the mixin's (BaseModule's init_cfg) is the stock scratch init, and it
    # skips MobileNetV2TSM.init_weights, which would load `pretrained`
    # whenever pretrained2d is True, even if None.

    def _adjust_conversion(self, result: PretrainedConversion,
                           checkpoint_keys) -> PretrainedConversion:
        """Refuse torchvision's MobileNetV2 layout by name."""
        if any(_TORCHVISION_KEY.search(str(k)) for k in checkpoint_keys):
            raise ValueError(
                'it uses torchvision\'s MobileNetV2 names (features.*), '
                f'which {type(self).__name__} does not convert; use an '
                'MMAction2/MMPretrain MobileNetV2 checkpoint (conv1, '
                'layer1-7, conv2)')
        return result
