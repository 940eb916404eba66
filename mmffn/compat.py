"""Fixes for known breakages of the upstream stack (torch 2.13, mmengine 0.10.7,
mmcv 2.1, mmaction2 1.2.0).

Every fix is one small function with its upstream reference and a test in
``tests/test_compat.py`` that fails without it. :func:`apply_compat` runs them
all once; ``import mmffn`` calls it before anything imports ``mmaction.models``.
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


def apply_compat() -> None:
    """Apply every fix once. Safe to call repeatedly."""
    global _APPLIED
    if _APPLIED:
        return
    stub_missing_drn_localizer()
    allow_mmengine_checkpoints_under_weights_only()
    allow_cpu_distributed()
    _APPLIED = True
