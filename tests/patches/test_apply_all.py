"""``mmffn.patches.apply_all``, the one entry point that ``import mmffn``
calls: every patch, in order, once, each with the upstream original as
``__wrapped__``; ``import mmffn`` fails on an untested upstream version."""
import subprocess
import sys

import pytest

from mmffn import patches
from mmffn.patches import apply_all
from mmffn.patches.guard import is_patched

# Every function mmffn replaces but Recognizer2D.loss, as `holder, key`
# source text (run here and in a fresh interpreter, where mmaction.models
# cannot be imported before mmffn: the drn stub); a dict holder is indexed.
TARGETS = '''[
    (d, '_init_dist_pytorch'), (M, '__init__'), (H, '__setstate__'),
    (c, 'save_checkpoint'), (r, 'save_checkpoint'), (p, 'save_checkpoint'),
    (c.CheckpointLoader._schemes, ''), (r, '_load_checkpoint'),
    (r.Runner, 'resume'), (r.Runner, 'build_dataloader'),
    (DecordInit, 'transform'),
    (DecordDecode, 'transform'), (SampleFrames, '__init__')]'''
IMPORTS = (
    'import mmengine.runner as p\n'
    'from mmengine.dist import utils as d\n'
    'from mmengine.model.wrappers import MMDistributedDataParallel as M\n'
    'from mmengine.logging import HistoryBuffer as H\n'
    'from mmengine.runner import checkpoint as c, runner as r\n'
    'from mmaction.datasets.transforms.loading import (DecordInit,\n'
    '    DecordDecode, SampleFrames)\n')
TARGETS_FUNCTION = (
    'def targets():\n'
    '    return [h[k] if isinstance(h, dict) else getattr(h, k)\n'
    f'            for h, k in {TARGETS}]\n')


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=120)


def _targets():
    """The current value of every target, in this process."""
    from mmaction.models.heads.base import BaseHead
    from mmaction.models.recognizers import Recognizer2D
    namespace = {}
    exec(IMPORTS + TARGETS_FUNCTION, namespace)
    return namespace['targets']() + [Recognizer2D.loss, BaseHead.loss_by_feat]


def test_patches_are_applied_in_order():
    assert [patch.__name__ for patch in patches.PATCHES] == [
        'stub_missing_drn_localizer',
        'allow_mmengine_checkpoints_under_weights_only',
        'allow_cpu_distributed',
        'resolve_scoped_collate_fn',
        'save_checkpoints_atomically',
        'name_the_file_in_checkpoint_errors',
        'check_what_runner_checkpoints_hold',
        'name_the_file_in_video_errors',
        'name_the_file_in_decode_errors',
        'check_sample_frames_counts',
        'refuse_multi_rate_inputs_in_recognizer2d',
        'accept_bfloat16_scores_in_head_losses',
    ]


def test_apply_all_runs_every_patch_in_order(monkeypatch):
    calls = []
    monkeypatch.setattr(patches, 'PATCHES',
                        tuple(lambda i=i: calls.append(i) for i in range(3)))
    apply_all()
    assert calls == [0, 1, 2]


def test_import_mmffn_applies_every_patch():
    for target in _targets():
        assert is_patched(target), target
        assert not is_patched(target.__wrapped__), target


def test_apply_all_on_the_patched_stack_changes_nothing():
    before = _targets()
    apply_all()
    assert _targets() == before


def test_wrapped_is_the_upstream_original():
    proc = run_python(
        IMPORTS + TARGETS_FUNCTION + 'before = targets()\n'
        'import mmffn\n'
        'for original, patched in zip(before, targets()):\n'
        '    assert not hasattr(original, "__wrapped__"), original\n'
        '    assert patched is not original, original\n'
        '    assert patched.__wrapped__ is original, original\n'
        'print("ok")\n')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'ok'


@pytest.mark.parametrize('module, version, package, tested', [
    ('mmengine', '0.11.0', 'mmengine', '>=0.10.0, <0.11.0'),
    ('mmaction', '1.3.0', 'mmaction2', '>=1.2.0, <1.3.0'),
    ('torch', '2.5.1', 'torch', '>=2.6.0'),
])
def test_import_mmffn_fails_on_an_untested_version(module, version, package,
                                                   tested):
    proc = run_python(f'import {module}; {module}.__version__ = {version!r}; '
                      'import mmffn')
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('RuntimeError: mmffn cannot apply its patch'), last
    assert f'{package} {version} is installed' in last
    assert f'tested for {package}{tested}' in last
