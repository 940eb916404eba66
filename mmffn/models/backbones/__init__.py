"""FFN backbones: stock MMAction2 backbones made frame flexible."""
from .c2d_ffn import C2D_FFN
from .checkpoint_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)
from .frame_flexible import FrameFlexibleMixin
from .frame_flexible_2d import FrameFlexible2DMixin
from .frame_flexible_3d import FrameFlexible3DMixin
from .mobilenet_v2_tsm_ffn import MobileNetV2TSM_FFN
from .mvit_ffn import MViT_FFN
from .resnet2plus1d_ffn import ResNet2Plus1d_FFN
from .resnet3d_csn_ffn import ResNet3dCSN_FFN
from .resnet3d_ffn import (ResNet3d_FFN, ResNet3dSlowFast_FFN,
                           ResNet3dSlowOnly_FFN)
from .resnet_ffn import ResNet_FFN
from .resnet_tin_ffn import ResNetTIN_FFN
from .resnet_tsm_ffn import ResNetTSM_FFN
from .swin3d_ffn import SwinTransformer3D_FFN
from .tanet_ffn import TANet_FFN
from .timesformer_ffn import TimeSformer_FFN
from .uniformer_ffn import UniFormer_FFN
from .uniformerv2_ffn import UniFormerV2_FFN
from .vit_mae_ffn import VisionTransformer_FFN
from .x3d_ffn import X3D_FFN

__all__ = [
    'MViT_FFN', 'ResNet_FFN', 'ResNetTIN_FFN', 'SwinTransformer3D_FFN',
    'VisionTransformer_FFN', 'ResNet3dCSN_FFN', 'ResNet2Plus1d_FFN', 'C2D_FFN',
    'UniFormerV2_FFN', 'FrameFlexibleMixin', 'FrameFlexible2DMixin',
    'FrameFlexible3DMixin', 'ResNetTSM_FFN', 'MobileNetV2TSM_FFN', 'TANet_FFN',
    'ResNet3d_FFN', 'ResNet3dSlowOnly_FFN', 'ResNet3dSlowFast_FFN', 'X3D_FFN',
    'UniFormer_FFN', 'TimeSformer_FFN', 'convert_pretrained_state_dict',
    'PretrainedConversion'
]
