"""Training-loop pieces FFN adds to MMAction2's engine."""
from .epoch_seed_hook import EpochSeedHook
from .ffn_optim_wrapper_constructor import FFNOptimWrapperConstructor

__all__ = ['EpochSeedHook', 'FFNOptimWrapperConstructor']
