"""FFN backbones."""
from .resnet_tsm_ffn import (PretrainedConversion, ResNetTSM_FFN,
                             convert_pretrained_state_dict)

__all__ = [
    'ResNetTSM_FFN', 'convert_pretrained_state_dict', 'PretrainedConversion'
]
