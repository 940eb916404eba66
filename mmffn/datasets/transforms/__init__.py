from .multi_rate_sampling import MultiRateSampleFrames
from .unique_decode import UniqueDecordDecode

__all__ = ['MultiRateSampleFrames', 'UniqueDecordDecode']
