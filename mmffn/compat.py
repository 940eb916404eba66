"""Fixes for known breakages of the upstream stack (torch 2.13, mmengine 0.10.7,
mmcv 2.1, mmaction2 1.2.0).

Every fix is one small function with its upstream reference and a test in
``tests/test_compat.py`` (the checkpoint-saving and error-message fixes:
``tests/test_reliability_*.py``) that fails without it.
:func:`apply_compat` runs them all once; ``import mmffn`` calls it before
anything imports ``mmaction.models``.
Nothing here edits installed files.

Fixes that are dependency pins rather than code live in ``setup.py``:
``importlib_metadata`` (imported by ``mmaction.utils.dependency`` but not
declared by mmaction2) and ``setuptools<81`` (MMEngine's ``mmaction::`` config
inheritance calls ``pkg_resources``, which setuptools 81 removed).
"""
import importlib.util
import os
import sys
import types
import warnings

_APPLIED = False


def stub_missing_drn_localizer() -> bool:
    """Provide ``mmaction.models.localizers.drn`` when the wheel lacks it.

    Upstream: open-mmlab/mmaction2 issue #2714. The published 1.2.0 wheel and
    sdist do not ship the ``drn`` folder, yet ``localizers/__init__.py``
    imports ``DRN`` from it, so ``import mmaction.models`` fails. Only the two
    missing module names are stubbed, and only when the folder is really
    absent, so any other import error still surfaces. Using the stub ``DRN``
    raises a clear error.

    Returns:
        bool: True if the stub was installed.
    """
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    roots = list(spec.submodule_search_locations)
    if any(os.path.isdir(os.path.join(root, 'models', 'localizers', 'drn'))
           for root in roots):
        return False
    name = 'mmaction.models.localizers.drn'
    if name in sys.modules:
        return False

    class DRN:  # noqa: D101 - placeholder with a clear error
        def __init__(self, *args, **kwargs):
            raise ImportError(
                'DRN is not available: the installed mmaction2 package lacks '
                'mmaction/models/localizers/drn (open-mmlab/mmaction2#2714). '
                'mmffn stubbed it so that the rest of mmaction.models imports.')

    package = types.ModuleType(name)
    package.__path__ = []  # a package without files
    module = types.ModuleType(name + '.drn')
    module.DRN = DRN
    package.drn = module
    sys.modules[name] = package
    sys.modules[name + '.drn'] = module
    return True


def _restricted_getattr(obj, name):
    """``getattr`` limited to what MMEngine checkpoints really pickle.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, functions
    such as ``HistoryBuffer.mean``; pickle writes them as
    ``getattr(HistoryBuffer, 'mean')``. Allowing the real ``getattr`` would
    reopen arbitrary code execution, so only these lookups are served.
    """
    import pickle

    from mmengine.logging import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'}  # HistoryBuffer's defaults
    allowed.update(HistoryBuffer._statistics_methods)  # registered ones
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint with '
        'weights_only=True: only HistoryBuffer statistics methods are allowed.')


def checkpoint_safe_globals() -> list:
    """Globals an MMEngine/MMAction2 checkpoint needs under weights_only."""
    import numpy as np
    from mmengine.logging import HistoryBuffer
    from mmengine.structures import LabelData
    safe = [
        HistoryBuffer,
        LabelData,
        (_restricted_getattr, 'builtins.getattr'),
        np.dtype,
        np.ndarray,
    ]
    # numpy pickles arrays through its reconstruct function and dtypes through
    # their classes (np.dtypes.Float64DType, ...); both are plain data.
    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar
    safe += [_reconstruct, scalar]
    safe += [
        getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')
    ]
    return safe


def allow_mmengine_checkpoints_under_weights_only() -> None:
    """Let ``torch.load(weights_only=True)`` read MMEngine checkpoints.

    Upstream: torch 2.6 made ``weights_only=True`` the default of
    ``torch.load``; MMEngine 0.10.7 (open-mmlab/mmengine#1655) calls
    ``torch.load`` without the argument in ``load_from_local``, so
    ``load_from``, ``--resume`` and ``tools/test.py`` fail on the message hub
    (``HistoryBuffer``, numpy arrays). We register the few globals these
    checkpoints contain instead of turning safety off for every file.
    """
    import torch
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def _cuda_usable() -> bool:
    import torch
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def allow_cpu_distributed() -> None:
    """Make MMEngine's distributed launch work on machines without CUDA.

    Upstream: MMEngine 0.10.7 ``_init_dist_pytorch`` always calls
    ``torch.cuda.set_device`` and ``Runner.wrap_model`` always passes
    ``device_ids=[LOCAL_RANK]`` to DDP (mmengine/dist/utils.py and
    mmengine/runner/runner.py ``wrap_model``); a CPU-only torch raises in the
    first and DDP rejects ``device_ids`` for CPU modules. Without CUDA we initialise the process
    group with ``gloo`` (an ``nccl`` request is switched with a warning) and
    drop ``device_ids``. With CUDA, MMEngine's own code runs unchanged.
    """
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    from mmengine.model.wrappers import distributed as mm_ddp

    original_init = dist_utils._init_dist_pytorch
    if getattr(original_init, '_mmffn_patched', False):
        return

    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if _cuda_usable():
            return original_init(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            warnings.warn('CUDA is not available: using the gloo backend '
                          'instead of nccl for distributed training.')
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    _init_dist_pytorch._mmffn_patched = True
    dist_utils._init_dist_pytorch = _init_dist_pytorch

    original_ddp_init = mm_ddp.MMDistributedDataParallel.__init__

    def ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        if on_cpu:
            # DDP rejects device_ids for CPU modules.
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        original_ddp_init(
            self,
            module=module,
            detect_anomalous_params=detect_anomalous_params,
            **kwargs)

    mm_ddp.MMDistributedDataParallel.__init__ = ddp_init


# --- checkpoints and videos: survive kills, name the file in errors ---------
def _atomic_save_checkpoint(original):
    """``save_checkpoint`` that renames a complete temporary file into place
    for local paths and leaves every other backend to ``original``."""

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
            return original(checkpoint, filename,
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

    save_checkpoint.__wrapped__ = original
    save_checkpoint._mmffn_patched = True
    return save_checkpoint


def save_checkpoints_atomically() -> None:
    """Write local checkpoints to a temporary file, then rename them.

    Upstream: MMEngine 0.10.7 ``save_checkpoint``
    (mmengine/runner/checkpoint.py, lines 732-793) serialises into memory and
    ``LocalBackend.put`` (mmengine/fileio/backends/local_backend.py, lines
    60-78) opens the final ``epoch_N.pth`` with ``'wb'`` and writes into it.
    A process killed while writing (scheduler preemption, OOM killer) leaves
    a truncated file under the final name, which ``load_from``,
    ``--resume PATH``, ``tools/test.py`` or a user then pick up. Now the
    bytes go to a hidden temporary file in the same folder, are fsynced and
    ``os.replace`` puts them in place: ``epoch_N.pth`` is either absent or
    complete. (``last_checkpoint``, read by auto resume, is written by
    ``CheckpointHook`` only after the save returns, so it already pointed to
    the previous checkpoint during a save.) Other backends run unchanged.
    Not fixed: ``CheckpointHook`` deletes the oldest kept checkpoint before
    writing the new one (mmengine/hooks/checkpoint_hook.py, lines 413-429),
    so with ``max_keep_ckpts=1`` a kill during the save leaves none.
    """
    import mmengine.runner as runner_package
    from mmengine.runner import checkpoint as checkpoint_module
    from mmengine.runner import runner as runner_module
    original = checkpoint_module.save_checkpoint
    if getattr(original, '_mmffn_patched', False):
        return
    atomic = _atomic_save_checkpoint(original)
    # Callers bind the name at import; these hold it (the strategies of
    # FlexibleRunner import it lazily from mmengine.runner.checkpoint).
    modules = [checkpoint_module, runner_module, runner_package] + [
        sys.modules[name] for name in ('mmengine._strategy.deepspeed',
                                       'mmengine._strategy.colossalai')
        if name in sys.modules
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

    Upstream: MMEngine 0.10.7 ``load_from_local``
    (mmengine/runner/checkpoint.py, lines 333-348), behind ``load_from``,
    ``--resume``, ``tools/test.py`` and backbone ``pretrained``, calls
    ``torch.load`` bare: a text file fails with ``IndexError: pop from empty
    list``, an empty one with a bare ``EOFError``, a truncated one with
    ``PytorchStreamReader failed reading zip archive``, none naming the
    file. Now the error names it: ``pickle.UnpicklingError`` (the
    ``weights_only`` refusals) keeps its type, anything else becomes a
    RuntimeError; a missing file already raised ``FileNotFoundError`` with
    its name.
    """
    from mmengine.runner.checkpoint import CheckpointLoader
    original = CheckpointLoader._schemes['']
    if getattr(original, '_mmffn_patched', False):
        return

    def load_from_local(filename, map_location):
        try:
            return original(filename, map_location)
        except (FileNotFoundError, MemoryError):
            raise
        except Exception as error:
            raise _checkpoint_error(filename, error) from error

    load_from_local._mmffn_patched = True
    load_from_local.__wrapped__ = original
    CheckpointLoader._schemes[''] = load_from_local


def name_the_file_in_video_errors() -> None:
    """Make ``DecordInit`` say which video it could not open.

    Upstream: mmaction2 1.2.0 ``DecordInit._get_video_reader``
    (mmaction/datasets/transforms/loading.py, lines 1131-1144) hands the
    bytes of the file to ``decord.VideoReader``, which fails on an empty,
    truncated or non-video file with ``RuntimeError: Error reading 0
    bytes...`` or a ``DECORDError`` that do not name the file; in a dataset
    of thousands of videos the bad one cannot be found. The error now names
    it (same exception type; missing files already raised FileNotFoundError
    with their name), and a video without frames raises a ValueError naming
    it instead of reaching the sampler. Other readers (PyAVInit, OpenCVInit)
    are unchanged.
    """
    from mmaction.datasets.transforms.loading import DecordInit
    original = DecordInit.transform
    if getattr(original, '_mmffn_patched', False):
        return

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

    transform._mmffn_patched = True
    transform.__wrapped__ = original
    DecordInit.transform = transform


def apply_compat() -> None:
    """Apply every fix once. Safe to call repeatedly."""
    global _APPLIED
    if _APPLIED:
        return
    stub_missing_drn_localizer()
    allow_mmengine_checkpoints_under_weights_only()
    allow_cpu_distributed()
    save_checkpoints_atomically()
    name_the_file_in_checkpoint_errors()
    name_the_file_in_video_errors()
    _APPLIED = True
