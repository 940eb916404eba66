"""FFN backbones: stock MMAction2 backbones made frame flexible."""
from .checkpoint_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)
from .frame_flexible import FrameFlexibleMixin
from .frame_flexible_2d import FrameFlexible2DMixin
from .frame_flexible_3d import FrameFlexible3DMixin
from .mobilenet_v2_tsm_ffn import MobileNetV2TSM_FFN
from .resnet3d_ffn import (ResNet3d_FFN, ResNet3dSlowFast_FFN,
                           ResNet3dSlowOnly_FFN)
from .resnet_tsm_ffn import ResNetTSM_FFN
from .tanet_ffn import TANet_FFN
from .timesformer_ffn import TimeSformer_FFN
from .uniformer_ffn import UniFormer_FFN
from .x3d_ffn import X3D_FFN

__all__ = [
    'FrameFlexibleMixin', 'FrameFlexible2DMixin', 'FrameFlexible3DMixin',
    'ResNetTSM_FFN', 'MobileNetV2TSM_FFN', 'TANet_FFN', 'ResNet3d_FFN',
    'ResNet3dSlowOnly_FFN', 'ResNet3dSlowFast_FFN', 'X3D_FFN', 'UniFormer_FFN',
    'TimeSformer_FFN', 'convert_pretrained_state_dict', 'PretrainedConversion'
]
