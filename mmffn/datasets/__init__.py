"""FFN data pipeline pieces and datasets, registered in MMAction2's
``TRANSFORMS`` and ``DATASETS``."""
from .transforms import (MultiRateSampleFrames, MultiRateSampleFrames3D,
                         UniqueDecordDecode)
from .unlabeled_video_dataset import UnlabeledVideoDataset

__all__ = [
    'MultiRateSampleFrames', 'MultiRateSampleFrames3D', 'UniqueDecordDecode',
    'UnlabeledVideoDataset'
]
