"""FFN backbones."""
from .pretrained_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)
from .resnet_tsm_ffn import ResNetTSM_FFN

__all__ = [
    'ResNetTSM_FFN', 'convert_pretrained_state_dict', 'PretrainedConversion'
]
