"""Each fix of mmffn.patches.stack, shown to be needed and shown to work;
and the version guard, ``__wrapped__`` and idempotency of its patches.

The "needed" halves run in a fresh interpreter without mmffn, so they fail
loudly if the upstream stack is ever fixed (then the fix can go). The rules
themselves are tested in ``tests/patches/test_guard.py``.
"""
import importlib.metadata
import os
import pickle
import subprocess
import sys

import pytest
import torch
from checkpoint_payloads import (Lookup, crafted_history_buffer,
                                 crafted_history_buffer_checkpoint,
                                 hostile_statistics, process_state)

from mmffn.patches import apply_all, stack
from mmffn.patches.guard import is_patched

_Lookup = Lookup


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=120)


# --- missing drn localizer (open-mmlab/mmaction2#2714) -----------------------
def test_drn_missing_upstream_breaks_import_without_mmffn():
    proc = run_python('import mmaction.models')
    assert proc.returncode != 0
    assert "No module named 'mmaction.models.localizers.drn'" in proc.stderr


def test_drn_stub_lets_mmaction_models_import():
    proc = run_python('import mmffn, mmaction.models; '
                      'from mmaction.registry import MODELS; '
                      'print(MODELS.get("ResNetTSM").__name__)')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'ResNetTSM'


def test_drn_stub_raises_clear_error_when_used():
    from mmaction.models.localizers.drn.drn import DRN
    with pytest.raises(ImportError, match='2714'):
        DRN()


def test_drn_stub_does_not_hide_other_import_errors():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('mmaction.models.localizers.not_a_module')
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module('mmaction.models.localizers.drn.other')


# --- dependencies mmaction2/mmengine use but do not declare  -----------------
def test_undeclared_dependencies_are_declared_by_mmffn():
    requires = ' '.join(importlib.metadata.requires('mmffn'))
    assert 'importlib_metadata' in requires or 'importlib-metadata' in requires
    assert 'setuptools<81' in requires
    # What needs them: mmaction's dependency helper and MMEngine's
    # `mmaction::` config resolution.
    import mmaction.utils.dependency  # noqa: F401
    from mmengine.utils import get_installed_path
    assert os.path.isdir(get_installed_path('mmaction'))


def test_mmaction_scope_config_inheritance(tmp_path):
    from mmengine.config import Config
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("_base_ = 'mmaction::_base_/models/tsm_r50.py'\n"
                        "custom_imports = dict(imports=['mmffn'], "
                        'allow_failed_imports=False)\n')
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.backbone.type == 'ResNetTSM'
    assert cfg.model.cls_head.num_classes == 400


# --- torch.load(weights_only=True) and MMEngine checkpoints  -----------------
def _save_mmengine_style_checkpoint(path):
    import numpy as np
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('mmffn_compat_test')
    for i in range(3):
        hub.update_scalar('train/loss', float(i))
    hub.update_info('iter', 3)
    ckpt = dict(
        meta=dict(epoch=1, iter=3, seed=np.int64(7)),
        state_dict=dict(w=torch.ones(2)),
        message_hub=hub.state_dict(),
    )
    torch.save(ckpt, path)


def test_mmengine_checkpoint_needs_safe_globals(tmp_path):
    path = tmp_path / 'ckpt.pth'
    _save_mmengine_style_checkpoint(path)
    proc = run_python(f'import torch; torch.load({str(path)!r})')
    assert proc.returncode != 0
    assert 'Weights only load failed' in proc.stderr


def test_mmengine_checkpoint_loads_under_weights_only(tmp_path):
    path = tmp_path / 'ckpt.pth'
    _save_mmengine_style_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert buf.mean() == pytest.approx(1.0)
    assert buf.statistics('max') == 2.0
    assert ckpt['meta']['seed'] == 7


@pytest.mark.parametrize('obj_name', [('HistoryBuffer', '__init__'),
                                      ('OrderedDict', 'fromkeys')])
def test_restricted_getattr_refuses_other_lookups(tmp_path, obj_name):
    import collections

    from mmengine.logging import HistoryBuffer
    obj = dict(
        HistoryBuffer=HistoryBuffer,
        OrderedDict=collections.OrderedDict)[obj_name[0]]
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Lookup(obj, obj_name[1])}, path)
    with pytest.raises(pickle.UnpicklingError, match='Refusing getattr'):
        torch.load(path, weights_only=True)


def test_restricted_getattr_serves_statistics_methods(tmp_path):
    from mmengine.logging import HistoryBuffer
    path = tmp_path / 'ok.pth'
    torch.save({'x': _Lookup(HistoryBuffer, 'mean')}, path)
    assert torch.load(path, weights_only=True)['x'] is HistoryBuffer.mean


@pytest.fixture
def history_buffer_statistics():
    """HistoryBuffer's class-level statistics, restored after the test even
    where a checkpoint changed them (the unfixed code)."""
    from mmengine.logging import HistoryBuffer
    HistoryBuffer()  # registers the four defaults
    methods = HistoryBuffer._statistics_methods
    saved = dict(methods)
    yield methods
    methods.clear()
    methods.update(saved)


def test_restricted_getattr_names_are_fixed_at_import(
        tmp_path, history_buffer_statistics):
    """Served names do not follow HistoryBuffer._statistics_methods, which
    unpickling writes into."""
    from mmengine.logging import HistoryBuffer
    assert stack.HISTORY_BUFFER_STATISTICS == {'min', 'max', 'current', 'mean'}
    history_buffer_statistics['__class__'] = HistoryBuffer.mean
    path = tmp_path / 'evil.pth'
    torch.save({'x': Lookup(HistoryBuffer, '__class__')}, path)
    with pytest.raises(pickle.UnpicklingError, match='Refusing getattr'):
        torch.load(path, weights_only=True)


def _crafted_statistics():
    from mmengine.logging import HistoryBuffer
    return {
        'issue 16': hostile_statistics(),
        'mean swapped': {
            'mean': HistoryBuffer.max
        },
        'mean is data': {
            'mean': 0
        },
        'new name': {
            'weighted': HistoryBuffer.mean
        },
        'not a dict': [('mean', HistoryBuffer.max)],
    }


@pytest.mark.parametrize('case', list(_crafted_statistics()))
@pytest.mark.parametrize('weights_only', [True, False])
def test_a_checkpoint_cannot_change_history_buffer_statistics(
        tmp_path, history_buffer_statistics, case, weights_only):
    """A crafted HistoryBuffer is refused and leaves the class-level state
    as it was, also under a plain (trusted) pickle load."""
    before = process_state()
    path = tmp_path / 'crafted.pth'
    torch.save({'x': crafted_history_buffer(_crafted_statistics()[case])},
               path)
    with pytest.raises(
            pickle.UnpicklingError, match='Refusing a '
            'HistoryBuffer'):
        torch.load(path, weights_only=weights_only)
    assert process_state() == before


def test_a_crafted_buffer_cannot_shadow_class_attributes(
        tmp_path, history_buffer_statistics):
    from mmengine.logging import HistoryBuffer
    path = tmp_path / 'shadow.pth'
    torch.save(
        {
            'x':
            crafted_history_buffer(
                {}, _statistics_methods={'mean': HistoryBuffer.max})
        }, path)
    with pytest.raises(
            pickle.UnpicklingError, match=r"sets \['_statistics_methods'\]"):
        torch.load(path, weights_only=True)


def test_the_crafted_checkpoint_of_issue_16_is_refused(
        tmp_path, history_buffer_statistics):
    before = process_state()
    path = tmp_path / 'crafted.pth'
    torch.save(crafted_history_buffer_checkpoint(), path)
    with pytest.raises(
            pickle.UnpicklingError, match="statistics method '__class__'"):
        torch.load(path, weights_only=True)
    assert process_state() == before


def test_genuine_history_buffers_still_round_trip(tmp_path,
                                                  history_buffer_statistics):
    """Pickled statistics that are the registered methods load (and deepcopy,
    which also goes through __setstate__)."""
    import copy

    from mmengine.logging import HistoryBuffer
    before = process_state()
    buf = HistoryBuffer([1.0, 3.0], [1, 1])
    path = tmp_path / 'ok.pth'
    torch.save({'x': buf}, path)
    for loaded in (torch.load(path,
                              weights_only=True)['x'], copy.deepcopy(buf)):
        assert loaded.mean() == 2.0 and loaded.statistics('max') == 3.0
    assert process_state() == before


def test_unsafe_loading_is_not_switched_on_globally():
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') is None
    assert os.environ.get('TORCH_FORCE_WEIGHTS_ONLY_LOAD') is None


# --- distributed training without CUDA ---------------------------------------
def test_cpu_ddp_without_cuda_needs_the_fix(tmp_path):
    """Unpatched MMEngine DDP wrapping rejects device_ids for CPU modules."""
    import torch.distributed as dist
    from mmengine.model import BaseModel
    from mmengine.model.wrappers import MMDistributedDataParallel
    from torch.nn.parallel import DistributedDataParallel

    class Tiny(BaseModel):

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, x, mode='tensor'):
            return self.fc(x)

    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    try:
        with pytest.raises(ValueError, match='device_ids'):
            DistributedDataParallel(Tiny(), device_ids=[0])
        wrapped = MMDistributedDataParallel(module=Tiny(), device_ids=[0])
        assert wrapped.device_ids is None
        assert wrapped(torch.ones(1, 2)).shape == (1, 2)
    finally:
        dist.destroy_process_group()


def test_init_dist_uses_gloo_without_cuda(monkeypatch):
    from mmengine.dist import utils as dist_utils
    calls = {}
    monkeypatch.setattr(stack, '_cuda_usable', lambda: False)
    monkeypatch.setattr(
        'torch.distributed.init_process_group',
        lambda backend, **kw: calls.setdefault('backend', backend))
    monkeypatch.setattr('torch.cuda.set_device',
                        lambda *a: pytest.fail('set_device called'))
    with pytest.warns(UserWarning, match='gloo'):
        dist_utils._init_dist_pytorch('nccl')
    assert calls['backend'] == 'gloo'


# --- version guard, __wrapped__, idempotency --------------------------------
DRN_MODULES = ('mmaction.models.localizers.drn',
               'mmaction.models.localizers.drn.drn')
MMENGINE_RANGE = '>=0.10.0, <0.11.0'
MMACTION2_RANGE = '>=1.2.0, <1.3.0'


def _stack_targets():
    """(holder, name) of every function mmffn.patches.stack replaces."""
    from mmengine.dist import utils as dist_utils
    from mmengine.logging import HistoryBuffer
    from mmengine.model.wrappers import MMDistributedDataParallel
    return [(dist_utils, '_init_dist_pytorch'),
            (MMDistributedDataParallel, '__init__'),
            (HistoryBuffer, '__setstate__')]


@pytest.fixture
def unpatched(restore_upstream, monkeypatch):
    """The stack as before mmffn's stack fixes; all restored afterwards."""
    originals = {
        (holder, name): original
        for holder, name, original in restore_upstream(_stack_targets())
    }
    for name in DRN_MODULES:
        monkeypatch.delitem(sys.modules, name)
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    yield originals
    torch.serialization.clear_safe_globals()
    torch.serialization.add_safe_globals(saved)


@pytest.mark.parametrize('patch, module, version, package, tested', [
    ('allow_cpu_distributed', 'mmengine', '0.11.0', 'mmengine',
     MMENGINE_RANGE),
    ('allow_cpu_distributed', 'mmengine', '0.9.1', 'mmengine', MMENGINE_RANGE),
    ('allow_mmengine_checkpoints_under_weights_only', 'mmengine', '0.11.0',
     'mmengine', MMENGINE_RANGE),
    ('allow_mmengine_checkpoints_under_weights_only', 'torch', '2.5.1',
     'torch', '>=2.6.0'),
    ('stub_missing_drn_localizer', 'mmaction', '1.3.0', 'mmaction2',
     MMACTION2_RANGE),
    ('stub_missing_drn_localizer', 'mmaction', '1.1.0', 'mmaction2',
     MMACTION2_RANGE),
])
def test_untested_version_fails_loudly_and_patches_nothing(
        unpatched, set_version, patch, module, version, package, tested):
    set_version(module, version)
    with pytest.raises(RuntimeError) as info:
        getattr(stack, patch)()
    message = str(info.value)
    assert f'{package} {version} is installed' in message
    assert f'tested for {package}{tested}' in message
    assert patch in message
    for (holder, name), original in unpatched.items():
        assert getattr(holder, name) is original
    assert torch.serialization.get_safe_globals() == []
    assert not any(name in sys.modules for name in DRN_MODULES)


def test_tested_version_is_patched_once(unpatched, set_version):
    set_version('mmengine', '0.10.0')
    set_version('mmaction', '1.2.9')
    set_version('torch', '2.6.0')
    apply_all()
    wrappers = {}
    for (holder, name), original in unpatched.items():
        wrappers[holder, name] = getattr(holder, name)
        assert wrappers[holder, name] is not original
        assert wrappers[holder, name].__wrapped__ is original
    from mmengine.logging import HistoryBuffer
    assert HistoryBuffer in torch.serialization.get_safe_globals()
    stub = sys.modules[DRN_MODULES[1]]
    with pytest.raises(ImportError, match='2714'):
        stub.DRN()

    apply_all()  # again: nothing is wrapped twice
    stack.allow_cpu_distributed()
    for key, wrapper in wrappers.items():
        assert getattr(*key) is wrapper
    assert sys.modules[DRN_MODULES[1]] is stub
    assert not stack.stub_missing_drn_localizer()


def test_apply_all_on_the_patched_stack_changes_nothing():
    before = [getattr(*target) for target in _stack_targets()]
    apply_all()
    assert [getattr(*target) for target in _stack_targets()] == before
    for wrapper in before:
        assert is_patched(wrapper)
        assert not is_patched(wrapper.__wrapped__)


def test_a_collate_fn_inherited_through_mmaction_builds(tmp_path):
    """MViT's recipe through ``mmaction::``: MMEngine adds ``_scope_`` to its
    ``collate_fn``; the runner builds it as MMAction2's
    repeat_pseudo_collate, and build_dataloader stays a staticmethod."""
    import inspect

    from mmaction.datasets import repeat_pseudo_collate
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmffn.patches.stack import _scoped_collate_fn
    config = tmp_path / 'mvit.py'
    config.write_text(
        "_base_ = 'mmaction::recognition/mvit/"
        "mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py'\n")
    collate_fn = Config.fromfile(str(config)).train_dataloader.collate_fn
    assert collate_fn.to_dict() == dict(
        type='repeat_pseudo_collate', _scope_='mmaction')
    assert _scoped_collate_fn(collate_fn) == dict(type='repeat_pseudo_collate')
    assert _scoped_collate_fn(dict(type=1)) == dict(type=1)
    assert isinstance(
        inspect.getattr_static(Runner, 'build_dataloader'), staticmethod)
    loader = Runner.build_dataloader(
        dict(
            batch_size=2,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=[[1], [2]],
            collate_fn=collate_fn.to_dict()))
    assert loader.collate_fn.func is repeat_pseudo_collate
    assert loader.collate_fn.keywords == {}
