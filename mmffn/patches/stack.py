"""Fixes without which the upstream stack does not run.

torch >= 2.6, mmengine 0.10.x and mmaction2 1.2.x do not work together out of
the box: ``import mmaction.models`` fails, their checkpoints do not load under
torch's ``weights_only`` default, and distributed runs need CUDA. Each fix is
one function; :func:`mmffn.patches.apply_all` runs them before anything
imports ``mmaction.models``. Nothing here edits installed files.
"""
import functools
import importlib.util
import os
import sys
import types
import warnings

from .guard import (MMACTION2_TESTED, MMENGINE_TESTED,
                    TORCH_WEIGHTS_ONLY_TESTED, installed_version,
                    require_version, wrap_once)

__all__ = [
    'HISTORY_BUFFER_STATISTICS', 'stub_missing_drn_localizer',
    'keep_history_buffer_statistics_process_wide', 'checkpoint_safe_globals',
    'allow_mmengine_checkpoints_under_weights_only', 'allow_cpu_distributed',
    'resolve_scoped_collate_fn'
]


def stub_missing_drn_localizer() -> bool:
    """Provide ``mmaction.models.localizers.drn`` when the wheel lacks it.

    open-mmlab/mmaction2#2714: the 1.2.0 wheel lacks the ``drn`` folder that
    ``localizers/__init__.py`` imports, so ``import mmaction.models`` fails.
    Only the missing module names are stubbed, only when the folder is
    absent; using ``DRN`` raises. (A module is added, nothing is wrapped: its
    presence in ``sys.modules`` is the idempotency check.)

    Returns:
        bool: True if the stub was installed.
    """
    spec = importlib.util.find_spec('mmaction')
    if spec is None or not spec.submodule_search_locations:
        return False
    require_version(
        'mmaction2', installed_version('mmaction2'), MMACTION2_TESTED,
        'stub_missing_drn_localizer '
        '(mmaction.models.localizers.drn)')
    roots = list(spec.submodule_search_locations)
    if any(
            os.path.isdir(os.path.join(root, 'models', 'localizers', 'drn'))
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
                'mmffn stubbed it so that the rest of mmaction.models imports.'
            )

    package = types.ModuleType(name)
    package.__path__ = []  # a package without files
    module = types.ModuleType(name + '.drn')
    module.DRN = DRN
    package.drn = module
    sys.modules[name] = package
    sys.modules[name + '.drn'] = module
    return True


# The names ``getattr(HistoryBuffer, name)`` is served for while loading a
# checkpoint: fixed here, at import, and never read from
# ``HistoryBuffer._statistics_methods``, which unpickling itself writes into
# (upstream ``HistoryBuffer.__setstate__``), so a checkpoint could widen it.
# Only HistoryBuffer's four default statistics are needed: pickle writes a
# method as ``getattr(HistoryBuffer, name)`` only for functions defined in
# its class body (qualified name ``HistoryBuffer.<name>``); a method added with
# ``HistoryBuffer.register_statistics`` is a function of its own module and is
# pickled by that global name, which weights_only refuses unless the user
# allow-lists it, whatever this set holds.
HISTORY_BUFFER_STATISTICS = frozenset({'min', 'max', 'current', 'mean'})


def _restricted_getattr(obj, name):
    """``getattr`` limited to what MMEngine checkpoints really pickle.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which pickle
    writes as ``getattr(HistoryBuffer, 'mean')``; the real ``getattr`` would
    reopen arbitrary code execution, so only the names of
    :data:`HISTORY_BUFFER_STATISTICS` are served.
    """
    import pickle

    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'Refusing getattr({obj!r}, {name!r}) while loading a checkpoint with '
        'weights_only=True: only the HistoryBuffer statistics methods '
        f'{sorted(HISTORY_BUFFER_STATISTICS)} are allowed.')


def _history_buffer_setstate(original):
    """``HistoryBuffer.__setstate__`` that changes only the loaded buffer.

    Upstream (mmengine/logging/history_buffer.py, ``__setstate__``, lines
    220-229 in 0.10.7) copies the pickled ``statistics_methods`` into the
    class-level ``HistoryBuffer._statistics_methods``, shared by every
    buffer of the process: a checkpoint could add names (``'__class__'``)
    or swap ``'mean'`` for ``max`` in every logged statistic from then on.
    A pickled method is accepted only if it *is* the method this process
    registered under that name (then upstream's copy changes nothing), and
    the state may not shadow a class attribute (an instance-level
    ``_statistics_methods``); anything else refuses the whole checkpoint.
    """

    @functools.wraps(original)
    def __setstate__(self, state):
        import pickle
        import reprlib
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(
                f'Refusing a HistoryBuffer state of type '
                f'{type(state).__name__}: expected a dict.')
        self._set_default_statistics()  # what upstream does first
        registered = type(self)._statistics_methods
        methods = state.get('statistics_methods', {})
        if not isinstance(methods, dict):
            raise pickle.UnpicklingError(
                'Refusing a HistoryBuffer whose statistics_methods is a '
                f'{type(methods).__name__}: expected a dict.')
        for name, method in methods.items():
            if name not in registered or registered[name] is not method:
                expected = (f'{registered[name]!r}, the method registered '
                            'under that name' if name in registered else
                            'only names registered in this process')
                raise pickle.UnpicklingError(
                    'Refusing a HistoryBuffer whose pickled statistics method '
                    f'{name!r} is {reprlib.repr(method)}; expected '
                    f'{expected}. Loading it would change '
                    'HistoryBuffer._statistics_methods, which every '
                    'HistoryBuffer of the process shares.')
        shadowing = sorted(
            key for key in state
            if key != 'statistics_methods' and hasattr(type(self), key))
        if shadowing:
            raise pickle.UnpicklingError(
                f'Refusing a HistoryBuffer whose state sets {shadowing}: '
                'expected instance data only (max_length, _log_history, '
                '_count_history), not attributes of the HistoryBuffer class.')
        original(self, dict(state))

    return __setstate__


def keep_history_buffer_statistics_process_wide() -> None:
    """Stop a loaded ``HistoryBuffer`` from changing class-level state.

    See :func:`_history_buffer_setstate`. Applied with the safe globals (by
    :func:`allow_mmengine_checkpoints_under_weights_only`), since allowing
    ``HistoryBuffer`` in checkpoints is what exposes its ``__setstate__``.
    """
    from mmengine.logging import HistoryBuffer
    wrap_once(
        HistoryBuffer,
        '__setstate__',
        _history_buffer_setstate,
        package='mmengine',
        tested=MMENGINE_TESTED,
        patch_name='keep_history_buffer_statistics_process_wide '
        '(mmengine.logging.HistoryBuffer.__setstate__)')


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

    torch 2.6 made ``weights_only=True`` the default; MMEngine's
    ``load_from_local`` does not pass it (open-mmlab/mmengine#1655), so
    ``load_from``, ``--resume`` and ``tools/test.py`` fail on the message hub.
    The few globals these checkpoints hold are registered as safe (public
    torch API); :func:`_restricted_getattr` serves only HistoryBuffer's
    statistics methods and :func:`keep_history_buffer_statistics_process_wide`
    guards the ``HistoryBuffer.__setstate__`` this exposes, hence the mmengine
    guard. Registering twice is a no-op (torch keeps a set).
    """
    import torch
    name = 'allow_mmengine_checkpoints_under_weights_only'
    require_version('torch', installed_version('torch'),
                    TORCH_WEIGHTS_ONLY_TESTED,
                    name + ' (torch.serialization.add_safe_globals)')
    require_version('mmengine', installed_version('mmengine'), MMENGINE_TESTED,
                    name + ' (mmengine.logging.HistoryBuffer.'
                    '__setstate__)')
    keep_history_buffer_statistics_process_wide()
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def _cuda_usable() -> bool:
    import torch
    return torch.cuda.is_available() and torch.cuda.device_count() > 0


def _init_dist_without_cuda(original):
    """``_init_dist_pytorch`` that, without CUDA, skips ``set_device`` and
    initialises the process group with gloo instead of nccl."""
    import torch.distributed as torch_dist

    @functools.wraps(original)
    def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
        if _cuda_usable():
            return original(backend, init_backend=init_backend, **kwargs)
        if backend == 'nccl':
            warnings.warn('CUDA is not available: using the gloo backend '
                          'instead of nccl for distributed training.')
            backend = 'gloo'
        torch_dist.init_process_group(backend=backend, **kwargs)

    return _init_dist_pytorch


def _ddp_init_for_cpu_modules(original):
    """``MMDistributedDataParallel.__init__`` that drops ``device_ids`` and
    ``output_device`` for a module whose parameters are all on the CPU."""

    @functools.wraps(original)
    def ddp_init(self, module, detect_anomalous_params=False, **kwargs):
        if all(p.device.type == 'cpu' for p in module.parameters()):
            # DDP rejects device_ids for CPU modules.
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        original(
            self,
            module=module,
            detect_anomalous_params=detect_anomalous_params,
            **kwargs)

    return ddp_init


def allow_cpu_distributed() -> None:
    """Make MMEngine's distributed launch work on machines without CUDA.

    MMEngine's ``_init_dist_pytorch`` always calls ``torch.cuda.set_device``
    and ``Runner.wrap_model`` passes ``device_ids`` to DDP, which CPU modules
    reject (mmengine/dist/utils.py, mmengine/runner/runner.py). Without CUDA
    the process group uses ``gloo`` (``nccl`` is switched with a warning) and
    ``device_ids`` are dropped; with CUDA MMEngine's code runs unchanged.
    """
    from mmengine.dist import utils as dist_utils
    from mmengine.model.wrappers import distributed as mm_ddp
    guard = dict(
        package='mmengine',
        tested=MMENGINE_TESTED,
        patch_name='allow_cpu_distributed (mmengine.dist.utils.'
        '_init_dist_pytorch, MMDistributedDataParallel.__init__)')
    wrap_once(dist_utils, '_init_dist_pytorch', _init_dist_without_cuda,
              **guard)
    wrap_once(mm_ddp.MMDistributedDataParallel, '__init__',
              _ddp_init_for_cpu_modules, **guard)


def _scoped_collate_fn(collate_fn):
    """A ``collate_fn`` config without the ``_scope_`` key: what the same
    recipe loaded directly (not through ``mmaction::``) holds."""
    if not isinstance(collate_fn, dict) or '_scope_' not in collate_fn:
        return collate_fn
    return {k: v for k, v in collate_fn.items() if k != '_scope_'}


def _build_dataloader_with_scoped_collate(original):

    @functools.wraps(original)
    def build_dataloader(dataloader, *args, **kwargs):
        if isinstance(dataloader, dict) and 'collate_fn' in dataloader:
            dataloader = dict(
                dataloader,
                collate_fn=_scoped_collate_fn(dataloader['collate_fn']))
        return original(dataloader, *args, **kwargs)

    return build_dataloader


def resolve_scoped_collate_fn() -> None:
    """Let a ``collate_fn`` inherited through ``mmaction::`` build.

    MMEngine's config loader adds ``_scope_`` to every dict with a ``type``
    in a base config of another package, and ``Runner.build_dataloader``
    passes the keys of ``collate_fn`` (but ``type``) to the function:
    ``_base_ = 'mmaction::recognition/mvit/mvit-small-...'`` stops at
    ``repeat_pseudo_collate() got an unexpected keyword argument
    '_scope_'`` (mmengine 0.10.7, runner.py ``build_dataloader``). The key
    is dropped, as a config loaded directly never had it: collate functions
    (MMAction2's included) live in MMEngine's FUNCTIONS registry, which the
    runner searches by the type name alone.
    """
    from mmengine.runner import Runner
    wrap_once(
        Runner,
        'build_dataloader',
        _build_dataloader_with_scoped_collate,
        package='mmengine',
        tested=MMENGINE_TESTED,
        patch_name='resolve_scoped_collate_fn '
        '(mmengine.runner.Runner.build_dataloader)')
