"""FFN building blocks: rate-specific norms, embeddings and modules, and
weight alteration."""
from .norm_conversion import (convert_to_rate_specific_norms,
                              is_rate_specific_norm)
from .rate_specific import RateSpecificLayer, to_static
from .rate_specific_bn import RateSpecificBatchNorm
from .rate_specific_module import RateSpecificModule, resample_frames
from .rate_specific_time_embedding import RateSpecificTimeEmbedding
from .weight_alteration import (AlterationWeight, WeightAlteredConv,
                                WeightAlteredConv2d, WeightAlteredConv3d,
                                weight_altered_conv)

__all__ = [
    'RateSpecificLayer', 'to_static', 'RateSpecificBatchNorm',
    'RateSpecificModule', 'resample_frames', 'RateSpecificTimeEmbedding',
    'convert_to_rate_specific_norms', 'is_rate_specific_norm',
    'AlterationWeight', 'WeightAlteredConv', 'WeightAlteredConv2d',
    'WeightAlteredConv3d', 'weight_altered_conv'
]
