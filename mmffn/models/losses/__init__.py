"""FFN losses."""
from .temporal_distillation import TemporalDistillationLoss

__all__ = ['TemporalDistillationLoss']
