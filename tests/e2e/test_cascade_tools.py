"""Cascade testing through MMAction2's tools/test.py on a mixing config's
checkpoint (configs/cascade/), and tools/calibrate_cascade.py on the same
checkpoint: the cascade that tools/test.py runs at a pair of thresholds logs
what the calibration predicted for that pair."""
import json
import os.path as osp
import re
import sys

import pytest
import torch
from e2e_helpers import (REPO, TOP1, dumped, first_videos, point_to_data,
                         run_tool)
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401

pytestmark = pytest.mark.slow

CONFIG = osp.join(REPO, 'configs', 'cascade',
                  'ffn_from_tsm_r50_1x1x8_sthv2_cascade.py')
GRID = (0.55, 0.7, 0.9)


def _metric(log, key):
    found = re.findall(rf'{re.escape(key)}: ([\d.]+)', log)
    assert len(found) == 1, (key, log[-3000:])
    return float(found[0])


def _tiny(cfg, ann, root):
    cfg.model.backbone.pretrained = None
    cfg.model.cls_head.num_classes = 2
    for split in ('val', 'test'):
        point_to_data(cfg[f'{split}_dataloader'], ann, root, 'videos')
    return cfg


def test_cascade_calibrates_and_tests_through_the_tools(
        tiny_video_root, tmp_path):
    ann = first_videos(tiny_video_root, str(tmp_path / 'ann'), 'val', 4)
    cfg = _tiny(Config.fromfile(CONFIG), ann, tiny_video_root)
    # A checkpoint of the mixed model, its classifier scaled so that
    # confidences spread over the grid.
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():
        model.cls_head.fc_cls.weight.mul_(200)
    checkpoint = str(tmp_path / 'ffn.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    config = dumped(cfg, tmp_path / 'cascade_config.py')

    out_dir = tmp_path / 'calibration'
    proc = run_tool([
        sys.executable, 'tools/calibrate_cascade.py', config, checkpoint,
        '--out-dir',
        str(out_dir), '--grid', *map(str, GRID), '--max-drop', '100'
    ])
    assert '| 16 frames |' in proc.stdout
    assert '[calibrate_cascade] picked' in proc.stdout
    result = json.load(open(out_dir / 'cascade_calibration.json'))
    assert result['videos'] == 4 and len(result['points']) == len(GRID)**2
    assert (out_dir / 'cascade_calibration.png').is_file()
    # With every point allowed, the pick is the cheapest: all stop at 4.
    fixed4 = result['fixed'][0]
    assert result['picked']['mean_gflops'] == pytest.approx(
        fixed4['mean_gflops'])
    thresholds = [0.7, 0.55]
    expected = next(p for p in result['points']
                    if p['thresholds'] == thresholds)

    proc = run_tool([
        sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
        str(tmp_path / 'test'), '--cfg-options',
        f'model.test_cfg.cascade.thresholds=({thresholds[0]},'
        f'{thresholds[1]})'
    ])
    log = proc.stdout + proc.stderr
    assert float(TOP1.findall(log)[0]) == pytest.approx(
        expected['accuracy'], abs=1e-4)
    assert _metric(log, 'cascade/mean_frames') == pytest.approx(
        expected['mean_frames'], abs=1e-3)
    assert _metric(log, 'cascade/mean_gflops') == pytest.approx(
        expected['mean_gflops'], rel=1e-3)
    for count in (4, 8, 16):
        assert _metric(log, f'cascade/share_{count}f') == pytest.approx(
            expected['shares'][str(count)], abs=1e-4)
    # Six views (twice sample x three crops) of 4 frames at least.
    assert _metric(log, 'cascade/mean_frames') >= 6 * 4
