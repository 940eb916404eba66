"""The README's main command, in its quick mode."""
import csv
import json
import os.path as osp
import sys

import pytest
from e2e_helpers import run_tool
from mmengine.config import Config

pytestmark = pytest.mark.slow


def test_quick_demo_produces_table_and_plot(tmp_path):
    work = tmp_path / 'work'
    proc = run_tool([
        sys.executable, 'tools/demo.py', '--quick', '--work-dir',
        str(work), '--data-root',
        str(tmp_path / 'data'), '--seed', '1'
    ],
                    timeout=900)
    out = proc.stdout
    for step in ('1/5', '2/5', '3/5', '4/5', '5/5'):
        assert f'[demo] {step}' in out
    sweep = work / 'frame_sweep'
    rows = list(csv.reader(open(sweep / 'frame_sweep.csv')))
    assert rows[0] == [
        'frames', 'TSM (16F)', 'FFN (4,8,16F)',
        'TSM (16F) converted, no labels'
    ]
    assert [r[0] for r in rows[1:]] == ['4', '8', '16']
    for row in rows[1:]:
        for cell in row[1:]:
            assert 0.0 <= float(cell) <= 100.0
    # The conversion keeps the TSM's 16-frame model as its 16-frame branch.
    assert rows[-1][1] == rows[-1][3]
    assert osp.getsize(sweep / 'frame_sweep.png') > 5000
    assert '| 16 |' in out  # the table is printed
    # --seed reaches the data set and both training runs.
    manifest = json.load(open(tmp_path / 'data' / 'manifest.json'))
    assert manifest['params']['seed'] == 1
    for name in ('tsm_r18_16f_demo', 'ffn_tsm_r18_demo',
                 'ffn_convert_tsm_r18_demo'):
        dumped = Config.fromfile(str(work / name / f'{name}.py'))
        assert dumped.randomness.seed == 1
    # --quick shortens the epoch-based schedules, cosine included, to 1.
    for name in ('tsm_r18_16f_demo', 'ffn_tsm_r18_demo'):
        dumped = Config.fromfile(str(work / name / f'{name}.py'))
        cosine = dumped.param_scheduler[0]
        assert cosine.type == 'CosineAnnealingLR'
        assert (dumped.train_cfg.max_epochs, cosine.T_max,
                cosine.end) == (1, 1, 1)
