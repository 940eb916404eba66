"""MobileNetV2TSM_FFN: MMAction2's MobileNetV2TSM made frame flexible.

``MobileNetV2TSM`` builds the structure; :class:`FrameFlexibleMixin` then
gives every BatchNorm a copy per frame count and puts a weight-altered conv
in place of the first conv of every ``InvertedResidual``. All convolutions
stay shared, and their state-dict keys stay those of MobileNetV2TSM.
"""
import re
from typing import Optional

from mmaction.models.backbones.mobilenet_v2 import InvertedResidual
from mmaction.models.backbones.mobilenet_v2_tsm import MobileNetV2TSM
from mmaction.registry import MODELS

from .frame_flexible import FrameFlexibleMixin
from .pretrained_conversion import PretrainedConversion

__all__ = ['MobileNetV2TSM_FFN']

# torchvision's MobileNetV2 names its layers ``features.<i>...``.
_TORCHVISION_KEY = re.compile(r'(^|\.)features\.\d+\.')


@MODELS.register_module()
class MobileNetV2TSM_FFN(FrameFlexibleMixin, MobileNetV2TSM):
    """MobileNetV2TSM with FFN's rate-specific norms and weight alteration.

    Accepts every argument of :class:`mmaction.models.MobileNetV2TSM` (and
    of ``MobileNetV2``), plus the FFN ones below. ``pretrained`` may name a
    local MMAction2/MMPretrain MobileNetV2 checkpoint (2D), a MobileNetV2TSM
    checkpoint or an FFN one; the format is read from the keys, so
    ``pretrained2d`` is accepted but not needed. torchvision's MobileNetV2
    naming (``features.*``) is not supported.

    Args:
        num_segments_list (Sequence[int]): Trained frame counts, distinct and
            sorted ascending. Defaults to ``(4, 8, 16)``.
        num_segments (int, optional): Frame count used outside a
            :meth:`frame_count` context. Defaults to the highest trained
            count.
        branch_policy (str): Branch used for a count that was not trained:
            ``'nearest'`` (ties to the higher one) or ``'strict'`` (raise
            ValueError). The temporal shifts always use the real count.
            Defaults to ``'nearest'``.
        weight_alteration (bool): Whether to add the per-count adapters in
            front of the first conv of every inverted residual block.
            Defaults to True.
        alteration_init_std (float): Std of the adapters' normal init.
            Defaults to 1e-3.
        rate_specific_norms (bool): Whether every count gets its own norms
            (specialised normalisation); False shares them (an ablation).
            Defaults to True.
        pretrained (str, optional): Local checkpoint loaded into every
            branch by :meth:`init_weights`. Defaults to None.
        **kwargs: Arguments of ``MobileNetV2TSM`` (``is_shift``,
            ``shift_div``, ``widen_factor``, ``out_indices``,
            ``frozen_stages``, ``norm_cfg``, ``norm_eval``, ...).
    """

    # Stock TSM shifts only the expanding blocks with a residual; their
    # conv.0 is TemporalShift(ConvModule), so the adapter sits behind the
    # shift. Like ResNetTSM_FFN (an adapter on every block, shifted or not),
    # every other block gets one too: FFN adapts each block's input, and the
    # per-count statistics differ there as well. With expand_ratio == 1,
    # conv.0 is the depthwise 3x3 conv (the adapter handles groups).
    adapter_sites = ((InvertedResidual, 'conv.0'), )
    pretrained_kinds = 'an MMAction2 MobileNetV2, MobileNetV2TSM or FFN'

    def __init__(self,
                 num_segments_list=(4, 8, 16),
                 num_segments: Optional[int] = None,
                 branch_policy: str = 'nearest',
                 weight_alteration: bool = True,
                 alteration_init_std: float = 1e-3,
                 rate_specific_norms: bool = True,
                 pretrained: Optional[str] = None,
                 **kwargs) -> None:
        counts, default = self._check_frame_arguments(num_segments_list,
                                                      num_segments,
                                                      branch_policy,
                                                      alteration_init_std,
                                                      kwargs)
        # MobileNetV2 would turn `pretrained` into a 'Pretrained' init_cfg,
        # loaded by MMEngine with stock keys (no per-count copies, and not
        # through the temporal shift). Keep the scratch init_cfg; the mixin's
        # init_weights loads `pretrained` into every branch instead.
        super().__init__(num_segments=default, pretrained=None, **kwargs)
        self.pretrained = pretrained
        self._make_frame_flexible(counts, default, branch_policy,
                                  weight_alteration, alteration_init_std,
                                  rate_specific_norms)

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
