"""The version guard, ``__wrapped__`` and idempotency of each patch of
mmffn.patches.checkpoints.

What the patches do is tested where it matters: atomic saves in
``tests/e2e/test_reliability_resume.py``, file names in checkpoint errors in
``tests/e2e/test_reliability_errors.py``, what ``load_from`` and ``--resume``
files must hold in ``tests/e2e/test_reliability_checkpoints.py``; here, the
messages of those checks and the removal of temporary files that killed saves
left.
"""
import os
import re
import subprocess
import sys

import pytest
import torch

from mmffn.patches import apply_all, checkpoints

MMENGINE_RANGE = '>=0.10.0, <0.11.0'
PATCHES = ('save_checkpoints_atomically', 'name_the_file_in_checkpoint_errors',
           'check_what_runner_checkpoints_hold')


def _targets():
    """(holder, key) of every function mmffn.patches.checkpoints replaces;
    a dict holder is indexed, any other is an attribute owner."""
    import mmengine.runner as runner_package
    from mmengine.runner import checkpoint as checkpoint_module
    from mmengine.runner import runner as runner_module
    return [(checkpoint_module, 'save_checkpoint'),
            (runner_module, 'save_checkpoint'),
            (runner_package, 'save_checkpoint'),
            (checkpoint_module.CheckpointLoader._schemes, ''),
            (runner_module, '_load_checkpoint'),
            (runner_module.Runner, 'resume')]


def _get(holder, key):
    return holder[key] if isinstance(holder, dict) else getattr(holder, key)


@pytest.fixture
def unpatched(restore_upstream):
    """Upstream's functions back in place; mmffn's restored afterwards."""
    return restore_upstream(_targets())


@pytest.mark.parametrize('patch, version', [
    ('save_checkpoints_atomically', '0.11.0'),
    ('save_checkpoints_atomically', '0.9.1'),
    ('name_the_file_in_checkpoint_errors', '0.11.0'),
    ('check_what_runner_checkpoints_hold', '0.11.0'),
])
def test_untested_version_fails_loudly_and_patches_nothing(
        unpatched, set_version, patch, version):
    set_version('mmengine', version)
    with pytest.raises(RuntimeError) as info:
        getattr(checkpoints, patch)()
    message = str(info.value)
    assert f'mmengine {version} is installed' in message
    assert f'tested for mmengine{MMENGINE_RANGE}' in message
    assert patch in message
    for holder, key, original in unpatched:
        assert _get(holder, key) is original, key


@pytest.mark.parametrize('patch', PATCHES)
def test_untested_version_fails_even_when_already_patched(set_version, patch):
    set_version('mmengine', '0.11.0')
    with pytest.raises(RuntimeError, match='mmengine 0.11.0 is installed'):
        getattr(checkpoints, patch)()


def test_tested_version_is_patched_once(unpatched, set_version):
    set_version('mmengine', '0.10.0')
    set_version('mmaction', '1.2.9')
    apply_all()
    wrappers = []
    for holder, key, original in unpatched:
        wrapper = _get(holder, key)
        assert wrapper is not original, key
        assert wrapper.__wrapped__ is original, key
        wrappers.append((holder, key, wrapper))
    # One wrapper for every module that holds save_checkpoint.
    assert len({id(w) for h, k, w in wrappers if k == 'save_checkpoint'}) == 1

    apply_all()  # again: no double wrap
    for patch in PATCHES:
        getattr(checkpoints, patch)()
    for holder, key, wrapper in wrappers:
        assert _get(holder, key) is wrapper, key
        assert not hasattr(wrapper.__wrapped__, '__wrapped__'), key


# --- what load_from and --resume files must hold (issue 16, item 3) ---------
GENUINE = dict(
    meta=dict(epoch=2, iter=8),
    state_dict={},
    message_hub=dict(log_scalars={}))


@pytest.mark.parametrize(
    'checkpoint, resume',
    [
        ({
            'w': torch.ones(1)
        }, False),  # a bare state dict: load_from only
        (GENUINE, False),
        (GENUINE, True),
    ])
def test_what_load_from_and_resume_accept(checkpoint, resume):
    checkpoints._check_runner_checkpoint(checkpoint, 'f.pth', resume)


@pytest.mark.parametrize('checkpoint, resume, holds', [
    (torch.ones(2, 3), False, 'a Tensor of shape (2, 3)'),
    ([1, 2], False, 'a list'),
    (torch.ones(3), True, 'a Tensor of shape (3,)'),
    ({
        'w': torch.ones(1)
    }, True,
     "a dict without ['meta', 'state_dict', 'message_hub'] (a bare state "
     'dict?)'),
    (dict(GENUINE, meta=dict(epoch=2)), True,
     "a checkpoint whose 'meta' (a dict) lacks ['epoch', 'iter']"),
    ({k: v
      for k, v in GENUINE.items()
      if k != 'message_hub'}, True, "a dict without ['message_hub']"),
])
def test_a_wrong_checkpoint_says_what_it_holds_and_what_was_expected(
        checkpoint, resume, holds):
    with pytest.raises(RuntimeError) as info:
        checkpoints._check_runner_checkpoint(checkpoint, '/x/f.pth', resume)
    message = str(info.value)
    assert ("Cannot resume from '/x/f.pth'"
            if resume else "Cannot load '/x/f.pth'") in message
    assert f'it holds {holds};' in message
    assert ('expected a checkpoint written by MMEngine'
            if resume else 'expected a state dict') in message


def test_runner_resume_and_load_check_the_file(tmp_path):
    """Runner.load_checkpoint accepts a dict for load_from; Runner.resume
    (same loader) refuses it before touching the runner."""
    from mmengine.runner import Runner
    from mmengine.runner import runner as runner_module
    path = str(tmp_path / 'weights.pth')
    torch.save({'w': torch.ones(1)}, path)
    assert set(runner_module._load_checkpoint(path)) == {'w'}

    class NoRunner:
        """Has only what Runner.resume calls before its first check."""

        def load_checkpoint(self, filename, map_location='cpu'):
            return Runner.load_checkpoint(self, filename, map_location)

        def call_hook(self, *args, **kwargs):
            raise AssertionError('the check comes before any hook')

    with pytest.raises(RuntimeError, match=re.escape(f'resume from {path!r}')):
        Runner.resume(NoRunner(), path)
    torch.save(torch.ones(3), path)
    with pytest.raises(RuntimeError, match=re.escape(f'Cannot load {path!r}')):
        runner_module._load_checkpoint(path)


# --- temporary files of killed saves (issue 16, item 8) ---------------------
@pytest.fixture
def dead_pid():
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, '-c', 'pass'])
    proc.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)
    return proc.pid


@pytest.fixture
def log_file(tmp_path):
    """The file of the current MMEngine logger, where the removals go."""
    from mmengine.logging import MMLogger
    path = tmp_path / 'run.log'
    MMLogger.get_instance(
        f'stale_tmp_{os.path.basename(tmp_path)}', log_file=str(path))
    return path


def test_a_save_removes_temporary_files_of_dead_processes(
        tmp_path, dead_pid, log_file):
    from mmengine.runner.checkpoint import save_checkpoint
    folder = tmp_path / 'work'
    folder.mkdir()
    live = subprocess.Popen(
        [sys.executable, '-c', 'import time; '
         'time.sleep(60)'])
    try:
        stale = folder / f'.epoch_1.pth.{dead_pid}.tmp'
        kept = [
            folder / f'.epoch_2.pth.{os.getpid()}.tmp',  # this process
            folder / f'.epoch_2.pth.{live.pid}.tmp',  # a save in progress
            folder / f'.notes.txt.{dead_pid}.tmp',  # not a checkpoint's
            folder / 'epoch_1.pth',
        ]
        for path in [stale] + kept:
            path.write_bytes(b'x' * 1024)
        save_checkpoint({'state_dict': {}}, str(folder / 'epoch_3.pth'))
        assert not stale.exists()
        for path in kept:
            assert path.exists(), path
        assert sorted(p.name for p in folder.iterdir()
                      if p.name.endswith('.tmp')) == sorted(
                          p.name for p in kept if p.name.endswith('.tmp'))
    finally:
        live.kill()
        live.wait()
    log = log_file.read_text()
    assert f'Removed {stale}' in log
    assert f'process {dead_pid}, which was killed' in log


def test_an_undeletable_stale_file_is_logged_not_fatal(tmp_path, dead_pid,
                                                       log_file, monkeypatch):
    from mmengine.runner.checkpoint import save_checkpoint
    stale = tmp_path / f'.epoch_1.pth.{dead_pid}.tmp'
    stale.write_bytes(b'x')

    def refuse(path):
        raise PermissionError(13, 'Permission denied', path)

    monkeypatch.setattr(checkpoints.os, 'remove', refuse)
    save_checkpoint({'state_dict': {}}, str(tmp_path / 'epoch_2.pth'))
    assert (tmp_path / 'epoch_2.pth').exists() and stale.exists()
    assert f'Could not remove the stale temporary checkpoint {stale}' in \
        log_file.read_text()


def test_pid_alive():
    assert checkpoints._pid_alive(os.getpid())
    assert checkpoints._pid_alive(0)  # never a process group
