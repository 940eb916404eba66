"""FFN models, registered in ``mmaction.registry.MODELS``."""
from .backbones import *  # noqa: F401,F403
from .backbones import __all__ as _backbones
from .heads import *  # noqa: F401,F403
from .heads import __all__ as _heads
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _losses
from .recognizers import *  # noqa: F401,F403
from .recognizers import __all__ as _recognizers

__all__ = _backbones + _heads + _layers + _losses + _recognizers
