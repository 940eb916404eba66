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

__all__ = ['upstream_tool_path', 'run_upstream_tool', 'finish_process_group']


def upstream_tool_path(relative_path: str) -> str:
    """Path of a script under MMAction2's packaged ``tools/`` folder.

    Args:
        relative_path (str): e.g. ``'train.py'`` or
            ``'analysis_tools/get_flops.py'``.
    """
    path = osp.join(
        osp.dirname(mmaction.__file__), '.mim', 'tools', relative_path)
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
    # Only after a clean finish: a rank that failed must not wait for the
    # others at a barrier; torchrun stops them.
    finish_process_group()


def finish_process_group() -> None:
    """Wait for every rank, then destroy the default process group.

    MMAction2's tools (and MMEngine's runner) end without
    ``destroy_process_group()``. With torch 2.13 and gloo, a rank that
    reaches interpreter teardown while a peer is still busy, and whose DDP
    wrapper still holds the group, can abort in C++ ("terminate called
    without an active exception", SIGABRT), so a finished ``dist_train.sh``
    or ``dist_test.sh`` run is reported as failed now and then
    (pytorch/pytorch#190489). Measured with
    ``benchmarks/gloo_teardown_abort.py`` (2 gloo ranks, a DDP model, one
    rank 0.5 s slower): 6 aborts in 48 runs with the group left alive, 8 in
    24 when it was destroyed from an ``atexit`` handler without a barrier,
    0 in 48 with a barrier before the destroy. A no-op when no group is
    initialised.
    """
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
