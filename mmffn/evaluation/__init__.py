"""Metrics of what FFN adds to testing (cascade inference)."""
from .cascade_metric import CascadeMetric

__all__ = ['CascadeMetric']
