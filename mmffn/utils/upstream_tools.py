"""Run MMAction2's own command-line tools with mmffn loaded.

MMAction2's wheel ships its ``tools/`` under ``mmaction/.mim/tools``. mmffn's
``tools/train.py`` and ``tools/test.py`` only import mmffn (stack fixes and
registration) and then execute those scripts unchanged, so every flag of
MMAction2's tools works and nothing is copied.
"""
import os.path as osp
import runpy
import sys

import mmaction


def upstream_tool_path(relative_path: str) -> str:
    """Path of a script under MMAction2's packaged ``tools/`` folder.

    Args:
        relative_path (str): e.g. ``'train.py'`` or
            ``'analysis_tools/get_flops.py'``.
    """
    path = osp.join(osp.dirname(mmaction.__file__), '.mim', 'tools',
                    relative_path)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'MMAction2 tool {relative_path!r} not found at {path}; '
            'mmffn expects mmaction2==1.2.0 installed from its wheel.')
    return path


def run_upstream_tool(relative_path: str, argv=None) -> None:
    """Execute an MMAction2 tool as ``__main__`` with the given arguments.

    Args:
        relative_path (str): Script path under ``mmaction/.mim/tools``.
        argv (list[str], optional): Arguments after the script name.
            Defaults to this process' own ``sys.argv[1:]``.
    """
    import mmffn  # noqa: F401  (compat fixes and registration first)
    path = upstream_tool_path(relative_path)
    args = sys.argv[1:] if argv is None else list(argv)
    saved = sys.argv
    sys.argv = [path] + args
    try:
        runpy.run_path(path, run_name='__main__')
    finally:
        sys.argv = saved
