"""FFN building blocks: rate-specific norms and weight alteration."""
from .rate_specific_bn import (RateSpecificBatchNorm, check_frame_count,
                               check_frame_counts, convert_to_rate_specific_bn)
from .weight_alteration import AlterationWeight, WeightAlteredConv2d

__all__ = [
    'RateSpecificBatchNorm', 'convert_to_rate_specific_bn',
    'check_frame_count', 'check_frame_counts', 'AlterationWeight',
    'WeightAlteredConv2d'
]
