"""Process-wide changes of MMEngine/MMAction2 behaviour, for reliability.

The stack runs without these (see :mod:`mmffn.compat` for what it needs);
they make a killed save leave no truncated checkpoint and make a bad
checkpoint or video say which file it is. ``import mmffn`` applies them with
:func:`apply_reliability_patches`, for every runner and tool in the process.

Like :mod:`mmffn.compat`, each patch is version-guarded
(:func:`~mmffn.compat.require_version`), keeps the original as
``__wrapped__`` and is applied once (:func:`~mmffn.compat.is_patched`).
Upstream references, line numbers and tests: ``docs/upstream_fixes.md``.
"""
import functools
import os
import sys

from .compat import (MMACTION2_TESTED, MMENGINE_TESTED, _mmaction2_version,
                     _mmengine_version, is_patched, require_version)


def _atomic_save_checkpoint(original):
    """``save_checkpoint`` that renames a complete temporary file into place
    for local paths and leaves every other backend to ``original``."""

    @functools.wraps(original)
    def save_checkpoint(checkpoint,
                        filename,
                        file_client_args=None,
                        backend_args=None):
        from mmengine.fileio import get_file_backend
        from mmengine.fileio.backends import LocalBackend
        if (file_client_args is not None
                or not isinstance(filename, (str, os.PathLike))
                or str(filename).startswith('pavi://') or not isinstance(
                    get_file_backend(filename, backend_args=backend_args),
                    LocalBackend)):
            return original(
                checkpoint,
                filename,
                file_client_args=file_client_args,
                backend_args=backend_args)
        import torch
        path = os.path.abspath(os.fspath(filename))
        folder, name = os.path.split(path)
        os.makedirs(folder, exist_ok=True)
        # Hidden, and not *.pth: no glob of checkpoints ever picks it up.
        tmp = os.path.join(folder, f'.{name}.{os.getpid()}.tmp')
        try:
            with open(tmp, 'wb') as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.remove(tmp)
            except OSError:
                pass
            raise
        try:  # make the rename itself durable (POSIX)
            fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass

    return save_checkpoint


def save_checkpoints_atomically() -> None:
    """Write local checkpoints to a temporary file, then rename them.

    MMEngine's ``save_checkpoint`` writes straight into ``epoch_N.pth``
    (mmengine/runner/checkpoint.py, ``LocalBackend.put``): a kill mid-save
    leaves a truncated file under the final name, which ``--resume`` or
    ``load_from`` then pick up. Local saves now go to a hidden temporary
    file, are fsynced and ``os.replace``d; other backends run unchanged.
    """
    import mmengine.runner as runner_package
    from mmengine.runner import checkpoint as checkpoint_module
    from mmengine.runner import runner as runner_module
    require_version(
        'mmengine', _mmengine_version(), MMENGINE_TESTED,
        'save_checkpoints_atomically '
        '(mmengine.runner.checkpoint.save_checkpoint)')
    original = checkpoint_module.save_checkpoint
    if is_patched(original):
        return
    atomic = _atomic_save_checkpoint(original)
    # Callers bind the name at import; these hold it (the strategies of
    # FlexibleRunner import it lazily from mmengine.runner.checkpoint).
    modules = [checkpoint_module, runner_module, runner_package] + [
        sys.modules[name]
        for name in ('mmengine._strategy.deepspeed',
                     'mmengine._strategy.colossalai') if name in sys.modules
    ]
    for module in modules:
        if getattr(module, 'save_checkpoint', None) is original:
            module.save_checkpoint = atomic


def _checkpoint_error(filename: str, error: Exception) -> Exception:
    """The error of a failed checkpoint load, naming the file."""
    import pickle
    import zipfile
    if isinstance(error, pickle.UnpicklingError):
        # weights_only refusals: keep the type and torch's guidance.
        return pickle.UnpicklingError(f'{filename}: {error}')
    message = (f'Cannot load checkpoint {filename!r} '
               f'({type(error).__name__}: {error}); expected a complete file '
               'written by torch.save.')
    try:
        if os.path.getsize(filename) == 0:
            message += ' The file is empty.'
        elif not zipfile.is_zipfile(filename):
            message += (' It is not a complete zip archive: truncated (a '
                        'crash while saving, an interrupted copy) or not a '
                        'checkpoint at all.')
    except OSError:
        pass
    return RuntimeError(message)


def name_the_file_in_checkpoint_errors() -> None:
    """Make a failed local checkpoint load say which file failed.

    MMEngine's ``load_from_local`` (mmengine/runner/checkpoint.py) calls
    ``torch.load`` bare: text, empty or truncated files fail with
    ``IndexError``/``EOFError``/zip errors that do not name the file. The
    error now names it: ``pickle.UnpicklingError`` (``weights_only``
    refusals) keeps its type, anything else becomes a RuntimeError.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    require_version(
        'mmengine', _mmengine_version(), MMENGINE_TESTED,
        'name_the_file_in_checkpoint_errors (mmengine.runner.'
        "checkpoint.CheckpointLoader._schemes[''])")
    original = CheckpointLoader._schemes['']
    if is_patched(original):
        return

    @functools.wraps(original)
    def load_from_local(filename, map_location):
        try:
            return original(filename, map_location)
        except (FileNotFoundError, MemoryError):
            raise
        except Exception as error:
            raise _checkpoint_error(filename, error) from error

    CheckpointLoader._schemes[''] = load_from_local


def name_the_file_in_video_errors() -> None:
    """Make ``DecordInit`` say which video it could not open.

    mmaction2's ``DecordInit`` (mmaction/datasets/transforms/loading.py)
    fails on an empty, truncated or non-video file with decord errors that do
    not name it. The error now names the file (same exception type), and a
    video without frames raises a ValueError naming it. PyAVInit and
    OpenCVInit are unchanged.
    """
    from mmaction.datasets.transforms.loading import DecordInit
    require_version(
        'mmaction2', _mmaction2_version(), MMACTION2_TESTED,
        'name_the_file_in_video_errors '
        '(mmaction.datasets.transforms.DecordInit.transform)')
    original = DecordInit.transform
    if is_patched(original):
        return

    @functools.wraps(original)
    def transform(self, results):
        filename = results.get('filename')
        try:
            results = original(self, results)
        except (FileNotFoundError, ImportError, MemoryError):
            raise
        except Exception as error:
            message = (f'Cannot open video {filename!r} with decord '
                       f'({type(error).__name__}: {error}); the file is '
                       'empty, truncated or not a video decord can read.')
            try:
                wrapped = type(error)(message)
            except Exception:
                wrapped = RuntimeError(message)
            raise wrapped from error
        if results['total_frames'] <= 0:
            raise ValueError(f'Video {filename!r} has no frames.')
        return results

    DecordInit.transform = transform


def apply_reliability_patches() -> None:
    """Apply every patch of this module; safe to call repeatedly."""
    save_checkpoints_atomically()
    name_the_file_in_checkpoint_errors()
    name_the_file_in_video_errors()
