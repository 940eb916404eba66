"""FFN backbones: stock MMAction2 backbones made frame flexible."""
from .frame_flexible import FrameFlexibleMixin
from .frame_flexible_3d import FrameFlexible3DMixin
from .mobilenet_v2_tsm_ffn import *  # noqa: F401,F403
from .pretrained_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)
from .resnet3d_ffn import *  # noqa: F401,F403
from .resnet_tsm_ffn import ResNetTSM_FFN
from .tanet_ffn import *  # noqa: F401,F403
from .timesformer_ffn import *  # noqa: F401,F403
from .uniformer_ffn import *  # noqa: F401,F403
from .x3d_ffn import *  # noqa: F401,F403

__all__ = [
    'FrameFlexibleMixin', 'FrameFlexible3DMixin', 'ResNetTSM_FFN',
    'convert_pretrained_state_dict', 'PretrainedConversion'
]
