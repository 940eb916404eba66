"""Every shipped config keeps at least 2 checkpoints (issue 26, item 6).

MMEngine's CheckpointHook deletes the oldest kept checkpoint before it writes
the next one, so with ``max_keep_ckpts=1`` a kill during the save leaves
nothing to ``--resume`` from (docs/reliability.md, "A kill while saving").
"""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import mmffn  # noqa: F401  (the configs import mmffn.apis)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p)


def test_the_demo_conversion_is_among_them():
    assert osp.join(REPO, 'configs', 'demo',
                    'ffn_convert_tsm_r18_demo.py') in CONFIGS


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.relpath(p, REPO) for p in CONFIGS])
def test_at_least_two_checkpoints_are_kept(path):
    hooks = Config.fromfile(path).get('default_hooks') or {}
    keep = (hooks.get('checkpoint') or {}).get('max_keep_ckpts', -1)
    # -1 (MMEngine's default): every checkpoint is kept.
    assert keep == -1 or keep >= 2, (
        f'{osp.relpath(path, REPO)}: max_keep_ckpts={keep}; keep at least 2 '
        'so that a kill while saving leaves a checkpoint to resume from')
