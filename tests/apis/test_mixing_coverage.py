"""The coverage command: which recognition configs of the installed MMAction2
convert to FFN and build, with a reason for each that does not."""
import os
import subprocess
import sys

import pytest
import torch
from e2e_helpers import REPO

import mmffn  # noqa: F401
from mmffn.apis import (CoverageRow, check_mixing, coverage_table,
                        mixing_coverage, packaged_recognition_configs)

# Configs of the installed MMAction2 1.2.0 that mix (of 119), as measured by
# tools/mixing_coverage.py (docs/coverage.md); the suite fails if a change
# lowers it.
MIXING_FLOOR = 115

TINY_TSM = """
model = dict(
    type='Recognizer2D',
    backbone=dict(type='ResNetTSM', depth={depth}, pretrained=None,
                  num_segments=8),
    cls_head=dict(type='TSMHead', num_classes=3, in_channels=512,
                  num_segments=8))
"""


def _write(folder, family, name, text):
    os.makedirs(folder / family, exist_ok=True)
    path = folder / family / name
    path.write_text(text)
    return str(path)


def test_each_stage_is_reported_with_its_reason(tmp_path):
    mixes = _write(tmp_path, 'tsm', 'a.py', TINY_TSM.format(depth=18))
    bad_depth = _write(tmp_path, 'tsm', 'b.py', TINY_TSM.format(depth=7))
    unknown = _write(
        tmp_path, 'other', 'c.py',
        TINY_TSM.format(depth=18).replace("'ResNetTSM'", "'NoSuchNet'"))
    broken = _write(tmp_path, 'other', 'd.py', 'model = dict(\n')
    assert check_mixing(mixes,
                        (4, 8, 16)) == CoverageRow('tsm', 'a.py', True,
                                                   'mixes', '', (4, 8, 16))
    row = check_mixing(bad_depth, (4, 8, 16))
    assert (row.mixes, row.stage) == (False, 'build')
    assert 'invalid depth 7' in row.reason
    row = check_mixing(unknown, (4, 8, 16))
    assert (row.mixes, row.stage) == (False, 'convert')
    assert "'NoSuchNet' has no frame-flexible version" in row.reason
    row = check_mixing(broken, (4, 8, 16))
    assert (row.mixes, row.stage) == (False, 'load')
    assert row.reason.startswith('SyntaxError')
    assert packaged_recognition_configs(
        str(tmp_path)) == [unknown, broken, mixes, bad_depth]


def test_table_counts_per_family_and_lists_reasons():
    rows = [
        CoverageRow('tsm', 'a.py', True, 'mixes'),
        CoverageRow('tsm', 'b.py', False, 'build', 'KeyError: x | y'),
        CoverageRow('c3d', 'c.py', False, 'convert', 'ValueError: no'),
    ]
    table = coverage_table(rows)
    assert '| c3d | 1 | 0 |' in table
    assert '| tsm | 2 | 1 |' in table
    assert '| **all** | 3 | 1 |' in table
    assert '| tsm/b.py | build | KeyError: x / y |' in table
    assert '| c3d/c.py | convert | ValueError: no |' in table
    assert table.endswith('1 of 3 recognition configs mix.')


def test_a_recipe_outside_the_counts_mixes_at_scaled_counts():
    """MMAction2's TPN-TSM runs at counts <= 8 and its 32-frame I3D at
    counts >= 5: each mixes at the default counts scaled by a power of two,
    with the reason the default ones do not."""
    root = packaged_recognition_configs()[0].rsplit('/', 2)[0]
    tpn = check_mixing(
        f'{root}/tpn/tpn-tsm_imagenet-pretrained-r50_8xb8-1x1x8-150e_'
        'sthv1-rgb.py', (4, 8, 16),
        skip_random_init=True)
    assert (tpn.mixes, tpn.counts) == (True, (2, 4, 8))
    assert 'counts <= 8' in tpn.reason and '[16] too large' in tpn.reason
    i3d = check_mixing(
        f'{root}/i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_'
        'kinetics400-rgb.py', (4, 8, 16),
        skip_random_init=True)
    assert (i3d.mixes, i3d.counts) == (True, (8, 16, 32))
    assert 'counts >= 5' in i3d.reason
    table = coverage_table([tpn, i3d])
    assert '| tpn/tpn-tsm' in table and '| (2, 4, 8) |' in table
    assert table.endswith('2 of 2 recognition configs mix (2 of them at '
                          'counts scaled to their recipe).')


def test_no_config_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='No recognition config'):
        packaged_recognition_configs(str(tmp_path))
    with pytest.raises(ValueError, match='frame_counts'):
        mixing_coverage((8, 4), paths=[])


def test_skipping_random_init_builds_the_same_modules(tmp_path):
    """Same keys and shapes; only the drawn values differ."""
    from mmaction.registry import MODELS
    from mmengine.config import Config

    from mmffn.apis import frame_flexible_model
    from mmffn.apis.mixing_coverage import _random_init_skipped
    cfg = Config.fromfile(
        _write(tmp_path, 'tsm', 'a.py', TINY_TSM.format(depth=18)))
    model_cfg = frame_flexible_model(cfg.model, (4, 8, 16))
    drawn = MODELS.build(model_cfg).state_dict()
    with _random_init_skipped():
        skipped = MODELS.build(model_cfg).state_dict()
    assert {k: v.shape
            for k, v in drawn.items()
            } == {k: v.shape
                  for k, v in skipped.items()}
    # The initialisers are restored afterwards.
    x = torch.zeros(1000)
    torch.nn.init.normal_(x)
    assert x.std() > 0.5


def test_command_prints_the_table(tmp_path):
    _write(tmp_path / 'root', 'tsm', 'a.py', TINY_TSM.format(depth=18))
    out = tmp_path / 'coverage.md'
    proc = subprocess.run([
        sys.executable, 'tools/mixing_coverage.py', '--config-root',
        str(tmp_path / 'root'), '--out',
        str(out), '--skip-random-init'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '1 of 1 recognition configs mix.' in proc.stdout
    assert out.read_text().strip() == proc.stdout.strip()


@pytest.mark.slow
def test_packaged_configs_mixing_does_not_fall():
    """Every recognition config packaged with MMAction2 converts and builds,
    or has a reason; the number that mix stays at or above the floor."""
    rows = mixing_coverage(skip_random_init=True)
    assert len(rows) == 119
    failed = [r for r in rows if not r.mixes]
    assert all(r.reason for r in failed)
    assert len(rows) - len(failed) >= MIXING_FLOOR, coverage_table(rows)
    scaled = {r.config: r.counts for r in rows if r.mixes and r.reason}
    assert sorted(set(scaled.values())) == [(2, 4, 8), (8, 16, 32)]
    assert len(scaled) == 6
