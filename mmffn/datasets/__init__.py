"""FFN data pipeline pieces, registered in ``mmaction.registry.TRANSFORMS``."""
from .transforms import *  # noqa: F401,F403
