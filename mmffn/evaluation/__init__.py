"""Evaluation helpers FFN adds: accuracy as a function of the frame count."""
from .frame_sweep import (evaluate_at_frames, plot_frame_sweep,
                          write_frame_sweep_tables)

__all__ = [
    'evaluate_at_frames', 'plot_frame_sweep', 'write_frame_sweep_tables'
]
