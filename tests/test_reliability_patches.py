"""The version guard, ``__wrapped__`` and idempotency of each patch of
mmffn.reliability_patches.

What the patches do is tested where it matters: atomic saves in
``tests/e2e/test_reliability_resume.py``, file names in checkpoint and video
errors in ``tests/e2e/test_reliability_errors.py``.
"""
import importlib
import subprocess
import sys

import pytest

import mmffn  # noqa: F401
from mmffn import reliability_patches

MMENGINE_RANGE = '>=0.10.0, <0.11.0'
MMACTION2_RANGE = '>=1.2.0, <1.3.0'


def _targets():
    """(holder, key) of every function mmffn.reliability_patches replaces;
    a dict holder is indexed, any other is an attribute owner."""
    import mmengine.runner as runner_package
    from mmaction.datasets.transforms.loading import DecordInit
    from mmengine.runner import checkpoint as checkpoint_module
    from mmengine.runner import runner as runner_module
    return [(checkpoint_module, 'save_checkpoint'),
            (runner_module, 'save_checkpoint'),
            (runner_package, 'save_checkpoint'),
            (checkpoint_module.CheckpointLoader._schemes, ''),
            (DecordInit, 'transform')]


def _get(holder, key):
    return holder[key] if isinstance(holder, dict) else getattr(holder, key)


@pytest.fixture
def unpatched(monkeypatch):
    """Upstream's functions back in place; mmffn's restored afterwards."""
    originals = []
    for holder, key in _targets():
        original = _get(holder, key).__wrapped__
        if isinstance(holder, dict):
            monkeypatch.setitem(holder, key, original)
        else:
            monkeypatch.setattr(holder, key, original)
        originals.append((holder, key, original))
    return originals


def _set_version(monkeypatch, module, version):
    monkeypatch.setattr(
        importlib.import_module(module), '__version__', version)


@pytest.mark.parametrize('patch, module, version, package, tested', [
    ('save_checkpoints_atomically', 'mmengine', '0.11.0', 'mmengine',
     MMENGINE_RANGE),
    ('save_checkpoints_atomically', 'mmengine', '0.9.1', 'mmengine',
     MMENGINE_RANGE),
    ('name_the_file_in_checkpoint_errors', 'mmengine', '0.11.0', 'mmengine',
     MMENGINE_RANGE),
    ('name_the_file_in_video_errors', 'mmaction', '1.3.0', 'mmaction2',
     MMACTION2_RANGE),
    ('name_the_file_in_video_errors', 'mmaction', '1.1.0', 'mmaction2',
     MMACTION2_RANGE),
])
def test_untested_version_fails_loudly_and_patches_nothing(
        unpatched, monkeypatch, patch, module, version, package, tested):
    _set_version(monkeypatch, module, version)
    with pytest.raises(RuntimeError) as info:
        getattr(reliability_patches, patch)()
    message = str(info.value)
    assert f'{package} {version} is installed' in message
    assert f'tested for {package}{tested}' in message
    assert patch in message
    for holder, key, original in unpatched:
        assert _get(holder, key) is original, key


def test_untested_version_fails_even_when_already_patched(monkeypatch):
    _set_version(monkeypatch, 'mmengine', '0.11.0')
    with pytest.raises(RuntimeError, match='mmengine 0.11.0 is installed'):
        reliability_patches.apply_reliability_patches()


def test_tested_version_is_patched_once(unpatched, monkeypatch):
    _set_version(monkeypatch, 'mmengine', '0.10.0')
    _set_version(monkeypatch, 'mmaction', '1.2.9')
    reliability_patches.apply_reliability_patches()
    wrappers = []
    for holder, key, original in unpatched:
        wrapper = _get(holder, key)
        assert wrapper is not original, key
        assert wrapper.__wrapped__ is original, key
        wrappers.append((holder, key, wrapper))
    # One wrapper for every module that holds save_checkpoint.
    assert len({id(w) for h, k, w in wrappers if k == 'save_checkpoint'}) == 1

    reliability_patches.apply_reliability_patches()  # again: no double wrap
    reliability_patches.save_checkpoints_atomically()
    for holder, key, wrapper in wrappers:
        assert _get(holder, key) is wrapper, key
        assert not hasattr(wrapper.__wrapped__, '__wrapped__'), key


def test_wrapped_is_the_upstream_original():
    code = ('import mmengine.runner as p\n'
            'from mmengine.runner import checkpoint as c, runner as r\n'
            'from mmaction.datasets.transforms.loading import DecordInit\n'
            'def targets():\n'
            '    return [c.save_checkpoint, r.save_checkpoint,\n'
            '            p.save_checkpoint, c.CheckpointLoader._schemes[""],\n'
            '            DecordInit.transform]\n'
            'before = targets()\n'
            'import mmffn\n'
            'for original, patched in zip(before, targets()):\n'
            '    assert not hasattr(original, "__wrapped__"), original\n'
            '    assert patched is not original, original\n'
            '    assert patched.__wrapped__ is original, original\n'
            'print("ok")\n')
    proc = subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'ok'
