"""Crash and resume: a run killed mid-epoch and resumed ends where an
uninterrupted run ends; a kill while saving leaves no truncated checkpoint.

The end-to-end test drives ``tools/train.py`` on the tiny FFN demo set with
``EpochSeedHook`` (mmffn/engine/epoch_seed_hook.py): MMEngine's resume
restores model, optimizer, schedulers and the sampler's epoch but no random
generator, so without the hook the resumed epochs draw other frame offsets
and dropout masks.
"""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from e2e_helpers import FFN_DEMO, REPO, run_tool, tiny_cfg_options

import mmffn  # noqa: F401  (safe globals for torch.load, atomic saving)

MAX_EPOCHS = 3
# One intra-op thread per run: on a small shared machine OpenMP's spinning
# threads make these tiny runs 10-20x slower when another process competes.
ENV = dict(OMP_NUM_THREADS='1')


def write_config(path, **extra) -> str:
    """A config inheriting the FFN demo: deterministic, EpochSeedHook, no
    validation (the runs stay seconds long)."""
    lines = [
        f'_base_ = [{FFN_DEMO!r}]',
        "custom_hooks = [dict(type='EpochSeedHook')]",
        'randomness = dict(seed=0, deterministic=True)',
    ] + [
        f'{split}_{key} = None' for split in ('val', 'test')
        for key in ('dataloader', 'cfg', 'evaluator')
    ] + [f'{k} = {v!r}' for k, v in extra.items()]
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def train_options(root, max_epochs=MAX_EPOCHS, batch_size=4, **extra):
    """tiny_cfg_options for training only, at 16 px."""
    options = [
        o for o in tiny_cfg_options(
            root, max_epochs=max_epochs, batch_size=batch_size, **extra)
        if not o.startswith(('val_', 'test_', 'train_cfg.val_interval'))
    ]
    return options + ['train_dataloader.dataset.pipeline.3.scale=(16,16)']


def train_command(config, work_dir, root, *extra):
    return [
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        *extra, '--cfg-options', *train_options(root)
    ]


def run_and_kill_in_epoch(command,
                          work_dir,
                          log_path,
                          epoch,
                          iteration,
                          timeout=300):
    """Start ``command``; SIGKILL it once iteration ``iteration`` of
    ``epoch`` is logged (the previous epoch's checkpoint then exists)."""
    marker = f'Epoch(train) [{epoch}][{iteration}/'
    env = dict(os.environ, PYTHONUNBUFFERED='1', **ENV)
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and proc.poll() is None:
            with open(log_path) as log:
                if marker in log.read() and osp.isfile(
                        osp.join(work_dir, f'epoch_{epoch - 1}.pth')):
                    proc.send_signal(signal.SIGKILL)
                    break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and time.time() >= deadline:
            proc.kill()
        proc.wait()
    return proc.returncode


def max_abs_diff(a, b) -> float:
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.


@pytest.mark.slow
def test_killed_run_resumes_to_the_uninterrupted_weights(
        tiny_video_root, tmp_path):
    config = write_config(tmp_path / 'resume_cfg.py')
    reference = str(tmp_path / 'reference')
    run_tool(train_command(config, reference, tiny_video_root), env=ENV)

    crashed = str(tmp_path / 'crashed')
    log_path = str(tmp_path / 'crashed.log')
    returncode = run_and_kill_in_epoch(
        train_command(config, crashed, tiny_video_root),
        crashed,
        log_path,
        epoch=2,
        iteration=2)
    with open(log_path) as log:
        crash_log = log.read()
    assert returncode == -signal.SIGKILL, crash_log[-3000:]
    assert osp.isfile(osp.join(crashed, 'epoch_1.pth'))
    assert not osp.exists(osp.join(crashed, 'epoch_2.pth'))
    with open(osp.join(crashed, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('epoch_1.pth')

    proc = run_tool(
        train_command(config, crashed, tiny_video_root, '--resume'), env=ENV)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 4' in log
    assert 'Epoch(train) [1][' not in log

    name = f'epoch_{MAX_EPOCHS}.pth'
    # Checkpoints load under torch's weights_only default
    # (mmffn.patches.stack).
    expected = torch.load(osp.join(reference, name))
    resumed = torch.load(osp.join(crashed, name))
    assert resumed['meta']['epoch'] == expected['meta']['epoch'] == MAX_EPOCHS
    assert resumed['meta']['iter'] == expected['meta']['iter']

    weights, ref_weights = resumed['state_dict'], expected['state_dict']
    assert weights.keys() == ref_weights.keys()
    for count in (4, 8, 16):
        for stat in ('running_mean', 'running_var', 'weight', 'bias'):
            assert any(f'.branches.{count}.{stat}' in k for k in weights)
    diffs = {k: max_abs_diff(weights[k], ref_weights[k]) for k in weights}
    worst = max(diffs, key=diffs.get)
    assert diffs[worst] <= 1e-6, (worst, diffs[worst])

    state = resumed['optimizer']['state']
    ref_state = expected['optimizer']['state']
    assert state.keys() == ref_state.keys() and state
    for key in state:
        assert max_abs_diff(state[key]['momentum_buffer'],
                            ref_state[key]['momentum_buffer']) <= 1e-6, key
    assert resumed['param_schedulers'] == expected['param_schedulers']


# --- a kill while a checkpoint is written --------------------------------
def _save_and_die_half_way(save, folder):
    """In a forked child: save epoch_1.pth, then die (SIGKILL, no cleanup)
    half way through writing epoch_2.pth."""
    import builtins
    real_open = builtins.open

    class DiesHalfWay:

        def __init__(self, f):
            self._f = f

        def write(self, data):
            self._f.write(bytes(data)[:max(1, len(data) // 2)])
            self._f.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        def __getattr__(self, name):
            return getattr(self._f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self._f.__exit__(*exc)

    def dying_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if 'w' in mode and 'epoch_2' in os.fspath(file):
            return DiesHalfWay(f)
        return f

    checkpoint = {
        'meta': dict(epoch=1, iter=4),
        'state_dict': {
            'w': torch.arange(1000.)
        },
    }
    save(checkpoint, osp.join(folder, 'epoch_1.pth'))
    builtins.open = dying_open
    save(
        dict(checkpoint, meta=dict(epoch=2, iter=8)),
        osp.join(folder, 'epoch_2.pth'))


def _fork_and_wait(target, *args) -> int:
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        try:
            target(*args)
        finally:
            os._exit(0)
    return os.waitpid(pid, 0)[1]


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs os.fork')
@pytest.mark.parametrize('atomic', [False, True])
def test_kill_while_saving_leaves_no_truncated_checkpoint(tmp_path, atomic):
    from mmengine.runner import runner as runner_module
    patched = runner_module.save_checkpoint  # what Runner.save_checkpoint uses
    assert getattr(patched, '__wrapped__', None) is not None  # mmffn's
    save = patched if atomic else patched.__wrapped__  # upstream MMEngine
    status = _fork_and_wait(_save_and_die_half_way, save, str(tmp_path))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL

    previous = str(tmp_path / 'epoch_1.pth')
    assert torch.load(previous)['meta']['epoch'] == 1  # still usable
    half_written = str(tmp_path / 'epoch_2.pth')
    if atomic:
        assert not osp.exists(half_written)
        assert [p.name for p in tmp_path.glob('*.pth')] == ['epoch_1.pth']
    else:  # upstream: a truncated file under the final name
        assert osp.getsize(half_written) < osp.getsize(previous)
        from mmengine.runner.checkpoint import _load_checkpoint
        with pytest.raises(RuntimeError, match='epoch_2.pth.*truncated'):
            _load_checkpoint(half_written)


@pytest.mark.skipif(not hasattr(os, 'fork'), reason='needs os.fork')
def test_the_next_save_removes_what_a_killed_save_left(tmp_path):
    """Issue 16, item 8: the killed save's temporary file (of a process that
    is gone) is deleted by the next save into the folder, and logged."""
    from mmengine.logging import MMLogger
    from mmengine.runner import runner as runner_module
    save = runner_module.save_checkpoint
    status = _fork_and_wait(_save_and_die_half_way, save, str(tmp_path))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    left = [p.name for p in tmp_path.glob('.epoch_2.pth.*.tmp')]
    assert len(left) == 1, left  # the killed child's
    log = tmp_path / 'run.log'
    MMLogger.get_instance('next_save_cleanup', log_file=str(log))
    save({'state_dict': {}}, str(tmp_path / 'epoch_3.pth'))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'epoch_1.pth', 'epoch_3.pth', 'run.log'
    ]
    assert f'Removed {tmp_path / left[0]}' in log.read_text()


def test_atomic_save_writes_a_normal_complete_file(tmp_path):
    from mmengine.runner.checkpoint import save_checkpoint
    path = tmp_path / 'sub' / 'epoch_1.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    assert os.listdir(tmp_path / 'sub') == ['epoch_1.pth']  # no temp file
    reference = tmp_path / 'plain'
    reference.write_bytes(b'')
    assert path.stat().st_mode == reference.stat().st_mode  # umask, not 600
    assert torch.equal(torch.load(path)['state_dict']['w'], torch.ones(3))
    save_checkpoint({'state_dict': {'w': torch.zeros(3)}}, str(path))
    assert torch.equal(torch.load(path)['state_dict']['w'], torch.zeros(3))
