"""FFN backbones: stock MMAction2 backbones made frame flexible."""
from .frame_flexible import FrameFlexibleMixin
from .pretrained_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)
from .resnet_tsm_ffn import ResNetTSM_FFN

__all__ = [
    'FrameFlexibleMixin', 'ResNetTSM_FFN', 'convert_pretrained_state_dict',
    'PretrainedConversion'
]
