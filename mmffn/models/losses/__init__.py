"""FFN losses."""
from .temporal_distillation import (TemporalDistillationLoss, TemporalKLLoss,
                                    temporal_kl)

__all__ = ['TemporalKLLoss', 'TemporalDistillationLoss', 'temporal_kl']
