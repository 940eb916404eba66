"""FFN data pipeline pieces and datasets, registered in MMAction2's
``TRANSFORMS`` and ``DATASETS``."""
from .transforms import *  # noqa: F401,F403
from .unlabeled_video_dataset import UnlabeledVideoDataset

__all__ = ['UnlabeledVideoDataset']
