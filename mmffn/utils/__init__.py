"""Helpers shared by mmffn's models, data pipelines and tools."""
from .frame_counts import check_frame_count, check_frame_counts
from .upstream_tools import run_upstream_tool, upstream_tool_path

__all__ = [
    'check_frame_count', 'check_frame_counts', 'run_upstream_tool',
    'upstream_tool_path'
]
