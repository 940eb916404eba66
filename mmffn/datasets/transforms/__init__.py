from .multi_rate_sampling import MultiRateSampleFrames
from .multi_rate_sampling_3d import MultiRateSampleFrames3D
from .unique_decode import UniqueDecordDecode

__all__ = [
    'MultiRateSampleFrames', 'MultiRateSampleFrames3D', 'UniqueDecordDecode'
]
