"""benchmarks/ablation_study.py: the separated-training row and a smoke run
of --quick (two variants: its numbers mean nothing)."""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))
from ablation_study import SEPARATED, with_separated  # noqa: E402


def test_separated_training_uses_the_nearest_trained_count():
    frames = [2, 4, 6, 8, 12, 16, 20]
    rows = {
        'TSM (4F)': {t: 40.0 + t
                     for t in frames},
        'TSM (8F)': {t: 80.0 + t
                     for t in frames},
        'vanilla TSM (16F)': {t: 160.0 + t
                              for t in frames},
    }
    separated = with_separated(rows)[SEPARATED[0]]
    # 6 is between 4 and 8: ties go to the higher count, as FFN's branches.
    assert separated == {
        2: 42.0,
        4: 44.0,
        6: 86.0,
        8: 88.0,
        12: 172.0,
        16: 176.0,
        20: 180.0
    }
    assert SEPARATED[0] not in with_separated({'TSM (4F)': rows['TSM (4F)']})


@pytest.mark.slow
def test_quick_study_writes_table_and_plot(tmp_path):
    out = tmp_path / 'study'
    command = [
        sys.executable, 'benchmarks/ablation_study.py', '--quick', '--seeds',
        '0', '1', '--variants', 'TSM (4F)', '--data-root',
        str(tmp_path / 'data'), '--work-dir',
        str(tmp_path / 'work'), '--out',
        str(out)
    ]
    proc = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = (tmp_path / 'study.md').read_text()
    assert 'Seeds [0, 1]' in table
    assert '2 of 2 models were trained and 2 swept' in table
    row = next(line for line in table.splitlines()
               if line.startswith('| TSM (4F)'))
    assert len(row.split('|')) == 2 + 2 + 1  # label, 4F, 16F
    assert ' ± ' in row
    result = json.loads((tmp_path / 'study.json').read_text())
    assert sorted(result['per_seed']) == ['0', '1']
    assert osp.getsize(str(out) + '.png') > 5000
    # Run again: every model is trained and swept already, so nothing is
    # trained or swept, and the table is the same.
    sweeps = sorted((tmp_path / 'work').glob('seed*/*/sweep/frame_sweep.csv'))
    assert len(sweeps) == 2  # 2 seeds x 1 variant (one is quickest)
    stamps = [osp.getmtime(p) for p in sweeps]
    again = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-4000:]
    assert [osp.getmtime(p) for p in sweeps] == stamps
    rerun = (tmp_path / 'study.md').read_text()
    assert '0 of 2 models were trained and 0 swept' in rerun
    assert rerun.split('\n')[2:] == table.split('\n')[2:]  # but wall time
    rerun_result = json.loads((tmp_path / 'study.json').read_text())
    assert set(rerun_result['train_seconds'].values()) == {None}
