"""Distributed equivalence and rate-specific BatchNorms under DDP / SyncBN.

What is compared, and why:

* 2 processes x batch B (``tools/dist_train.sh``, gloo on CPU) against
  1 process x batch 2B, same seed. ``DefaultSampler`` gives the two ranks
  the interleaved halves of the same permutation, so every iteration sees
  the same 2B videos; DDP averages the gradients of two B-means, which is
  the gradient of the 2B-mean (CE and the distillation KL are per-sample
  means). Training BatchNorm breaks the equality on purpose: under DDP each
  process normalises with the statistics of its own B clips and updates
  its own running statistics (MMEngine wraps with
  ``broadcast_buffers=False``), unless ``sync_bn`` is set. torch's
  SyncBatchNorm refuses CPU tensors (torch/nn/modules/batchnorm.py,
  ``SyncBatchNorm expected input tensor to be on GPU``), so on this CPU
  machine the equivalence run freezes the BatchNorms (``norm_eval=True``:
  running statistics used, affine parameters still trained), turns dropout
  off and samples segment centres (``test_mode=True``). Then the per-
  iteration loss of the 1-process run equals the mean of the two ranks'
  losses, and the final weights agree, up to float32 round-off of sums
  split differently, which SGD amplifies step by step (measured: loss gap
  6e-8 at step 1, 2.4e-5 at step 8; weights 1.3e-5 after 8 steps).
  Tolerances: ``rtol=1e-6, atol=1e-7`` on the first loss, ``rtol=1e-4``
  on the curve, ``atol=1e-4`` on the weights (scale ~0.1-0.4).
* A second DDP run with training BatchNorms shows the documented
  behaviour: shared weights stay identical on both ranks; during the epoch
  the running statistics of every ``branches.<T>`` copy differ between
  ranks, and MMEngine's ``SyncBuffersHook`` (a default hook of MMAction2's
  runtime) replaces them by their mean across ranks at the end of each
  epoch, before the checkpoint is written. (A mean of per-rank variances,
  not the variance over all clips.)
* SyncBN conversion (``sync_bn='torch'``, MMEngine's
  ``convert_sync_batchnorm``) reaches every branch copy of every
  RateSpecificBatchNorm and leaves the state-dict keys unchanged; checked
  in-process.
"""
import json
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from e2e_helpers import FFN_DEMO, free_port, run_tool, tiny_cfg_options

import mmffn  # noqa: F401

ENV = dict(OMP_NUM_THREADS='1')  # see test_reliability_resume.py

PROBE = '''
"""Test probe: each rank writes its losses, its buffers after its last
iteration (before SyncBuffersHook averages them at the end of the epoch)
and its final state dict."""
import json
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmaction.registry import HOOKS


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class RankProbeHook(Hook):

    def __init__(self):
        self.losses = []
        self.buffers = {}

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        self.losses.append({k: float(v) for k, v in outputs.items()
                            if k.startswith('loss')})
        self.buffers = {k: v.detach().clone()
                        for k, v in unwrap(runner.model).named_buffers()}

    def after_train(self, runner):
        rank = get_rank()
        with open(osp.join(runner.work_dir, f'losses_rank{rank}.json'),
                  'w') as f:
            json.dump(self.losses, f)
        torch.save(dict(state=unwrap(runner.model).state_dict(),
                        last_iter_buffers=self.buffers),
                   osp.join(runner.work_dir, f'state_rank{rank}.pth'))
'''


@pytest.fixture(scope='module')
def probe_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp('probe')
    (folder / 'ffn_dist_probe.py').write_text(PROBE)
    return str(folder)


def write_config(path, norm_eval):
    path.write_text('\n'.join([
        f'_base_ = [{FFN_DEMO!r}]',
        "custom_imports = dict(imports=['mmffn', 'ffn_dist_probe'], "
        'allow_failed_imports=False)',
        "custom_hooks = [dict(type='RankProbeHook')]",
        'randomness = dict(seed=0, deterministic=True)',
        'model = dict(cls_head=dict(dropout_ratio=0.0), '
        f'backbone=dict(norm_eval={norm_eval}))',
    ] + [
        f'{split}_{key} = None' for split in ('val', 'test')
        for key in ('dataloader', 'cfg', 'evaluator')
    ]) + '\n')
    return str(path)


def options(root, max_epochs, batch_size):
    return [
        o for o in tiny_cfg_options(
            root, max_epochs=max_epochs, batch_size=batch_size)
        if not o.startswith(('val_', 'test_', 'train_cfg.val_interval'))
    ] + [
        'train_dataloader.dataset.pipeline.1.test_mode=True',
        'train_dataloader.dataset.pipeline.3.scale=(16,16)',
    ]


def train(config, work_dir, root, probe_dir, processes, batch_size,
          max_epochs):
    env = dict(ENV, PYTHONPATH=probe_dir)
    if processes == 1:
        command = [sys.executable, 'tools/train.py', config]
    else:
        command = ['bash', 'tools/dist_train.sh', config, str(processes)]
        env['PORT'] = str(free_port())
    proc = run_tool(
        command + ['--work-dir', work_dir, '--cfg-options'] +
        options(root, max_epochs, batch_size),
        env=env)
    losses = []
    for rank in range(processes):
        with open(osp.join(work_dir, f'losses_rank{rank}.json')) as f:
            losses.append(json.load(f))
    states = [
        torch.load(osp.join(work_dir, f'state_rank{rank}.pth'))
        for rank in range(processes)
    ]
    return proc.stdout + proc.stderr, losses, states


@pytest.mark.slow
def test_two_processes_match_one_process_with_twice_the_batch(
        tiny_video_root, tmp_path, probe_dir):
    config = write_config(tmp_path / 'frozen_bn.py', norm_eval=True)
    _, (single, ), (single_state, ) = train(
        config,
        str(tmp_path / 'single'),
        tiny_video_root,
        probe_dir,
        processes=1,
        batch_size=4,
        max_epochs=2)
    log, ranks, rank_states = train(
        config,
        str(tmp_path / 'ddp'),
        tiny_video_root,
        probe_dir,
        processes=2,
        batch_size=2,
        max_epochs=2)
    assert 'Distributed training: True' in log
    # 16 videos: 4 iterations per epoch either way.
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 8
    for key in ('loss', 'loss_cls', 'loss_distill'):
        curve = np.array([step[key] for step in single])
        ddp_curve = np.mean([[step[key] for step in rank] for rank in ranks],
                            axis=0)
        # Same inputs and weights at the first step: round-off only.
        np.testing.assert_allclose(
            ddp_curve[0], curve[0], rtol=1e-6, atol=1e-7, err_msg=key)
        np.testing.assert_allclose(
            ddp_curve, curve, rtol=1e-4, atol=1e-6, err_msg=key)
    assert np.ptp([step['loss'] for step in single]) > 1e-3  # it trains

    checkpoint = torch.load(osp.join(str(tmp_path / 'ddp'), 'epoch_2.pth'))
    weights = single_state['state']
    assert checkpoint['state_dict'].keys() == weights.keys()
    for key, value in weights.items():
        for state in (checkpoint['state_dict'], rank_states[1]['state']):
            torch.testing.assert_close(
                state[key], value, rtol=0, atol=1e-4, msg=key)


@pytest.mark.slow
def test_ddp_running_statistics_are_per_process_until_the_epoch_ends(
        tiny_video_root, tmp_path, probe_dir):
    config = write_config(tmp_path / 'train_bn.py', norm_eval=False)
    work_dir = str(tmp_path / 'ddp')
    _, _, (rank0, rank1) = train(
        config,
        work_dir,
        tiny_video_root,
        probe_dir,
        processes=2,
        batch_size=2,
        max_epochs=1)
    stats = [
        k for k in rank0['state'] if '.branches.' in k and (
            k.endswith('running_mean') or k.endswith('running_var'))
    ]
    assert {k.split('.branches.')[1].split('.')[0]
            for k in stats} == {'4', '8', '16'}
    before0, before1 = rank0['last_iter_buffers'], rank1['last_iter_buffers']
    checkpoint = torch.load(osp.join(work_dir, 'epoch_1.pth'))['state_dict']
    for key in stats:
        # During the epoch each process normalised its own clips ...
        assert not torch.allclose(before0[key], before1[key]), key
        # ... and SyncBuffersHook averaged them when it ended.
        average = (before0[key] + before1[key]) / 2
        for state in (rank0['state'], rank1['state'], checkpoint):
            torch.testing.assert_close(state[key], average, msg=key)
    shared = [k for k in rank0['state'] if k.endswith('conv.weight')]
    assert shared
    for key in shared:  # DDP keeps the shared weights identical
        assert torch.equal(rank0['state'][key], rank1['state'][key]), key


# --- SyncBN conversion, in-process -----------------------------------------
def build_demo_model():
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    cfg = Config.fromfile(FFN_DEMO)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_sync_bn_conversion_reaches_every_branch_and_keeps_keys():
    from mmengine.model import convert_sync_batchnorm, revert_sync_batchnorm
    from torch.nn import SyncBatchNorm
    from torch.nn.modules.batchnorm import _BatchNorm

    from mmffn.models.layers import RateSpecificBatchNorm
    model = build_demo_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    norms = [
        m for m in model.modules() if isinstance(m, RateSpecificBatchNorm)
    ]

    model = convert_sync_batchnorm(model, 'torch')  # what sync_bn does
    after = [
        m for m in model.modules() if isinstance(m, RateSpecificBatchNorm)
    ]
    assert after == norms  # same wrappers, same order
    for norm in after:
        assert set(norm.branches) == {'4', '8', '16'}
        for bn in norm.branches.values():
            assert type(bn) is SyncBatchNorm
    assert not [
        m for m in model.modules()
        if isinstance(m, _BatchNorm) and not isinstance(m, SyncBatchNorm)
    ]
    state = model.state_dict()
    assert list(state) == list(before)
    for key, value in before.items():
        assert torch.equal(state[key], value), key
    # Branch selection still drives the converted copies.
    with model.backbone.frame_count(8):
        assert all(norm.active == 8 for norm in after)
    model = revert_sync_batchnorm(model)  # what a non-distributed run does
    assert list(model.state_dict()) == list(before)
    assert not [m for m in model.modules() if isinstance(m, SyncBatchNorm)]


def test_sync_bn_needs_gpu_tensors(tmp_path):
    """Documented limit: torch's SyncBatchNorm raises on CPU in training as
    soon as a process group exists (so sync_bn needs GPUs)."""
    import torch.distributed as dist
    from mmengine.model import convert_sync_batchnorm

    from mmffn.models.layers import RateSpecificBatchNorm
    norm = convert_sync_batchnorm(RateSpecificBatchNorm(4, (4, 8)), 'torch')
    norm.train()
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    try:
        with pytest.raises(
                ValueError,
                match='SyncBatchNorm expected input '
                'tensor to be on GPU'):
            norm(torch.randn(2, 4, 3, 3))
    finally:
        dist.destroy_process_group()
