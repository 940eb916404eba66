"""Training-loop pieces FFN adds to MMAction2's engine."""
from .ffn_optim_wrapper_constructor import FFNOptimWrapperConstructor

__all__ = ['FFNOptimWrapperConstructor']
