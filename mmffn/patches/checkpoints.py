"""Checkpoints: atomic local saves, the file named in load errors, and
checks of what ``load_from`` and ``--resume`` files hold.

Changes of MMEngine behaviour, not needed to run (see
:mod:`mmffn.patches.stack` for that): a killed save leaves no truncated
checkpoint, and a bad checkpoint says which file it is and what was expected.
"""
import contextvars
import functools
import logging
import os
import sys

from .guard import MMENGINE_TESTED, wrap_once

__all__ = [
    'remove_stale_temp_checkpoints', 'save_checkpoints_atomically',
    'name_the_file_in_checkpoint_errors', 'check_what_runner_checkpoints_hold'
]


def _temp_name(name: str, pid: int) -> str:
    """The temporary file an atomic save of ``name`` writes first: hidden,
    and not *.pth, so no glob of checkpoints ever picks it up."""
    return f'.{name}.{pid}.tmp'


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (POSIX)."""
    if pid <= 0:  # os.kill(0 or -n, ...) would address process groups
        return True
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temp_checkpoints(folder: str, name: str) -> list:
    """Delete temporary files that killed saves left in ``folder``.

    A save killed between writing and ``os.replace`` leaves
    ``.<checkpoint>.<pid>.tmp`` (GBs at R50). Those of the checkpoint's kind
    (same extension as ``name``) whose process is gone are deleted and
    logged; those of live processes, a save in progress, are kept. Process
    ids are those of this machine, so on other systems than POSIX nothing is
    deleted (``os.kill`` there terminates), and two machines must not save
    into one shared folder at the same time.

    Returns:
        list[str]: the deleted paths.
    """
    import re

    from mmengine.logging import print_log
    if os.name != 'posix':
        return []
    extension = os.path.splitext(name)[1]
    pattern = re.compile(r'\.(.+' + re.escape(extension) + r')\.(\d+)\.tmp')
    removed = []
    try:
        entries = os.listdir(folder)
    except OSError:
        return removed
    for entry in sorted(entries):
        match = pattern.fullmatch(entry)
        if match is None or _pid_alive(int(match.group(2))):
            continue
        path = os.path.join(folder, entry)
        try:
            size = os.path.getsize(path)
            os.remove(path)
        except OSError as error:  # housekeeping never fails a save
            print_log(
                f'Could not remove the stale temporary checkpoint {path} '
                f'({error}).',
                logger='current',
                level=logging.WARNING)
            continue
        removed.append(path)
        print_log(
            f'Removed {path} ({size / 2**20:.1f} MiB): a temporary '
            f'checkpoint file left by a save of process {match.group(2)}, '
            'which was killed before it finished.',
            logger='current',
            level=logging.WARNING)
    return removed


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
        # Before writing: frees the disk a killed save took.
        remove_stale_temp_checkpoints(folder, name)
        tmp = os.path.join(folder, _temp_name(name, os.getpid()))
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
    ``load_from`` then pick up. Local saves go to a hidden temporary file,
    are fsynced and ``os.replace``d; other backends run unchanged.
    Temporary files of saves that were killed are deleted at the next save
    into their folder (:func:`remove_stale_temp_checkpoints`).
    """
    import mmengine.runner as runner_package
    from mmengine.runner import checkpoint as checkpoint_module
    from mmengine.runner import runner as runner_module

    # Callers bind the name at import; these hold it (the strategies of
    # FlexibleRunner import it lazily from mmengine.runner.checkpoint).
    wrap_once(
        checkpoint_module,
        'save_checkpoint',
        _atomic_save_checkpoint,
        package='mmengine',
        tested=MMENGINE_TESTED,
        patch_name='save_checkpoints_atomically '
        '(mmengine.runner.checkpoint.save_checkpoint)',
        also=[runner_module, runner_package] + [
            sys.modules[name] for name in ('mmengine._strategy.deepspeed',
                                           'mmengine._strategy.colossalai')
            if name in sys.modules
        ])


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


def _load_naming_the_file(original):
    """``load_from_local`` whose errors name the file
    (:func:`_checkpoint_error`); a missing file or exhausted memory is
    raised unchanged."""

    @functools.wraps(original)
    def load_from_local(filename, map_location):
        try:
            return original(filename, map_location)
        except (FileNotFoundError, MemoryError):
            raise
        except Exception as error:
            raise _checkpoint_error(filename, error) from error

    return load_from_local


def name_the_file_in_checkpoint_errors() -> None:
    """Make a failed local checkpoint load say which file failed.

    MMEngine's ``load_from_local`` (mmengine/runner/checkpoint.py) calls
    ``torch.load`` bare: text, empty or truncated files fail with
    ``IndexError``/``EOFError``/zip errors that do not name the file. The
    error names it: ``pickle.UnpicklingError`` (``weights_only`` refusals)
    keeps its type, anything else becomes a RuntimeError.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    wrap_once(
        CheckpointLoader._schemes,
        '',
        _load_naming_the_file,
        package='mmengine',
        tested=MMENGINE_TESTED,
        patch_name='name_the_file_in_checkpoint_errors (mmengine.runner.'
        "checkpoint.CheckpointLoader._schemes[''])")


# True while ``Runner.resume`` runs: the checkpoint it loads must then be
# one MMEngine wrote, not only a state dict (``_check_runner_checkpoint``).
_RESUMING = contextvars.ContextVar('mmffn_resuming', default=False)

# What ``Runner.resume`` reads of a checkpoint (mmengine/runner/runner.py,
# ``Runner.resume``; ``Runner.save_checkpoint`` writes them all).
_RESUME_KEYS = ('meta', 'state_dict', 'message_hub')
_RESUME_META_KEYS = ('epoch', 'iter')


def _describe(value) -> str:
    """A short description of what a checkpoint file holds."""
    import torch
    if isinstance(value, torch.Tensor):
        return f'a Tensor of shape {tuple(value.shape)}'
    return f'a {type(value).__name__}'


def _check_runner_checkpoint(checkpoint, filename: str, resume: bool):
    """Raise unless ``checkpoint`` is what ``load_from`` (a state dict or a
    checkpoint) or ``--resume`` (a checkpoint written by MMEngine) needs.

    Raises:
        RuntimeError: naming the file, what it holds and what was expected.
    """
    if not resume:
        if not isinstance(checkpoint, dict):
            raise RuntimeError(
                f'Cannot load {filename!r}: it holds '
                f'{_describe(checkpoint)}; expected a state dict (parameter '
                'name -> tensor, as torch.save(model.state_dict()) writes) or '
                "a checkpoint (a dict with 'state_dict', as MMEngine "
                'writes).')
        return
    if not isinstance(checkpoint, dict):
        holds = _describe(checkpoint)
    else:
        missing = [key for key in _RESUME_KEYS if key not in checkpoint]
        meta = checkpoint.get('meta')
        if missing:
            holds = f'a dict without {missing}' + (' (a bare state dict?)' if
                                                   'meta' in missing else '')
        elif not isinstance(meta, dict) or any(key not in meta
                                               for key in _RESUME_META_KEYS):
            holds = f"a checkpoint whose 'meta' ({_describe(meta)}) lacks " \
                    f'{list(_RESUME_META_KEYS)}'
        else:
            return
    raise RuntimeError(
        f'Cannot resume from {filename!r}: it holds {holds}; expected a '
        "checkpoint written by MMEngine (a dict with 'meta' (epoch, iter), "
        "'state_dict' and 'message_hub'), such as WORK_DIR/epoch_N.pth. To "
        'start from its weights instead, give it as load_from without '
        '--resume.')


def _load_checking_what_it_holds(original):
    """``runner._load_checkpoint`` that checks the loaded checkpoint
    (:func:`_check_runner_checkpoint`) before returning it."""

    @functools.wraps(original)
    def _load_checkpoint(filename, map_location=None, logger=None):
        checkpoint = original(filename, map_location, logger)
        _check_runner_checkpoint(checkpoint, filename, _RESUMING.get())
        return checkpoint

    return _load_checkpoint


def _resume_marking_resuming(original):
    """``Runner.resume`` that sets :data:`_RESUMING` while it runs."""

    @functools.wraps(original)
    def resume(self, filename, *args, **kwargs):
        token = _RESUMING.set(True)
        try:
            return original(self, filename, *args, **kwargs)
        finally:
            _RESUMING.reset(token)

    return resume


def check_what_runner_checkpoints_hold() -> None:
    """Make ``load_from`` and ``--resume`` say what a wrong file holds.

    ``Runner.load_checkpoint`` (mmengine/runner/runner.py) hands whatever
    ``_load_checkpoint`` returns to ``_load_checkpoint_to_model``: a plain
    tensor fails with ``Tensor.__contains__ only supports Tensor or
    scalar``, and ``Runner.resume`` reads ``checkpoint['meta']`` of a bare
    state dict (``KeyError: 'meta'``), after loading its weights. The
    checkpoint is checked right after loading, before anything uses it
    (``load_from``, ``tools/test.py``, ``tools/frame_sweep.py``: a dict;
    ``--resume``: what ``Runner.save_checkpoint`` writes); the error names
    the file. Only the Runner of ``tools/`` is covered, not FlexibleRunner.
    """
    from mmengine.runner import Runner
    from mmengine.runner import runner as runner_module
    guard = dict(
        package='mmengine',
        tested=MMENGINE_TESTED,
        patch_name='check_what_runner_checkpoints_hold (mmengine.runner.'
        'runner._load_checkpoint, Runner.resume)')
    wrap_once(runner_module, '_load_checkpoint', _load_checking_what_it_holds,
              **guard)
    wrap_once(Runner, 'resume', _resume_marking_resuming, **guard)
