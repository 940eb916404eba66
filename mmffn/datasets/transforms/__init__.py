from .multi_rate_sampling import MultiRateSampleFrames
from .multi_rate_sampling_3d import MultiRateSampleFrames3D
from .unique_decode import UniqueDecordDecode
from .upstream_checks import apply_upstream_checks

# File names in decode errors, frame counts checked when SampleFrames is
# built: for every pipeline of the process, as mmffn.reliability_patches.
apply_upstream_checks()

__all__ = [
    'MultiRateSampleFrames', 'MultiRateSampleFrames3D', 'UniqueDecordDecode'
]
