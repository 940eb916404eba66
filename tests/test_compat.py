"""Each fix of mmffn.compat, shown to be needed and shown to work.

The "needed" halves run in a fresh interpreter without mmffn, so they fail
loudly if the upstream stack is ever fixed (then the fix can go).
"""
import importlib
import importlib.metadata
import os
import pickle
import subprocess
import sys

import pytest
import torch

import mmffn  # noqa: F401
from mmffn import compat


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


# --- dependencies mmaction2/mmengine use but do not declare -------------------
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
    cfg_file.write_text(
        "_base_ = 'mmaction::_base_/models/tsm_r50.py'\n"
        "custom_imports = dict(imports=['mmffn'], "
        'allow_failed_imports=False)\n')
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.model.backbone.type == 'ResNetTSM'
    assert cfg.model.cls_head.num_classes == 400


# --- torch.load(weights_only=True) and MMEngine checkpoints -------------------
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


class _Lookup:
    """Pickles as ``getattr(obj, name)``, like HistoryBuffer's methods."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


@pytest.mark.parametrize('obj_name', [('HistoryBuffer', '__init__'),
                                      ('OrderedDict', 'fromkeys')])
def test_restricted_getattr_refuses_other_lookups(tmp_path, obj_name):
    import collections

    from mmengine.logging import HistoryBuffer
    obj = dict(HistoryBuffer=HistoryBuffer,
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


def test_unsafe_loading_is_not_switched_on_globally():
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') is None
    assert os.environ.get('TORCH_FORCE_WEIGHTS_ONLY_LOAD') is None


# --- distributed training without CUDA ---------------------------------------
def test_cpu_ddp_without_cuda_needs_the_fix(tmp_path):
    """Unpatched MMEngine DDP wrapping rejects device_ids for CPU modules."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from mmengine.model.wrappers import MMDistributedDataParallel
    from mmengine.model import BaseModel

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
    monkeypatch.setattr(compat, '_cuda_usable', lambda: False)
    monkeypatch.setattr(
        'torch.distributed.init_process_group',
        lambda backend, **kw: calls.setdefault('backend', backend))
    monkeypatch.setattr('torch.cuda.set_device',
                        lambda *a: pytest.fail('set_device called'))
    with pytest.warns(UserWarning, match='gloo'):
        dist_utils._init_dist_pytorch('nccl')
    assert calls['backend'] == 'gloo'


def test_apply_compat_is_idempotent():
    from mmengine.dist import utils as dist_utils
    before = dist_utils._init_dist_pytorch
    compat.apply_compat()
    compat.allow_cpu_distributed()
    assert dist_utils._init_dist_pytorch is before

