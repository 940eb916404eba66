"""Small helpers shared by mmffn's tools."""
from .upstream_tools import run_upstream_tool, upstream_tool_path

__all__ = ['run_upstream_tool', 'upstream_tool_path']
