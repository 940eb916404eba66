"""The frame sweep: evaluation at many T, its table and its plot."""
import csv
import os.path as osp

import pytest
import torch
from e2e_helpers import FFN_DEMO, TINY_CLASSES, TSM_DEMO, tiny_cfg_options
from mmengine.config import Config

from mmffn.apis import (evaluate_at_frames, plot_frame_sweep,
                        write_frame_sweep_tables)
from mmffn.apis.frame_sweep import _frame_sweep_figure, _set_test_frames


def test_fixed_count_models_are_rebuilt_for_t_ffn_models_are_not():
    tsm = Config.fromfile(TSM_DEMO)
    _set_test_frames(tsm, 6)
    assert tsm.test_dataloader.dataset.pipeline[1]['num_clips'] == 6
    assert tsm.model.backbone.num_segments == 6
    assert tsm.model.cls_head.num_segments == 6
    ffn = Config.fromfile(FFN_DEMO)
    _set_test_frames(ffn, 6)
    assert ffn.test_dataloader.dataset.pipeline[1]['num_clips'] == 6
    assert ffn.model.cls_head.num_segments == 16  # RecognizerFFN adapts


def test_3d_models_get_clips_of_t_frames():
    """A 3D test pipeline samples T frames per clip (a vanilla 3D model
    takes any length as it is); SlowFast T slow frames, T * resample_rate
    input frames."""
    for name in ('x3d_16f_demo.py', 'ffn_x3d_demo.py'):
        cfg = Config.fromfile(osp.join(osp.dirname(TSM_DEMO), name))
        model = cfg.model.to_dict()
        _set_test_frames(cfg, 6)
        sampler = cfg.test_dataloader.dataset.pipeline[1]
        assert sampler['type'] == 'UniformSample'
        assert sampler['clip_len'] == 6
        assert cfg.model.to_dict() == model  # not rebuilt for T
    cfg = Config.fromfile(osp.join(osp.dirname(TSM_DEMO), 'x3d_16f_demo.py'))
    cfg.model.backbone = dict(type='ResNet3dSlowFast', resample_rate=4)
    _set_test_frames(cfg, 6)
    assert cfg.test_dataloader.dataset.pipeline[1]['clip_len'] == 24


def test_tables_and_plot(tmp_path):
    results = {'TSM': {4: 0.25, 16: 0.75}, 'FFN': {4: 0.5, 8: 0.625, 16: 0.8}}
    md, path_csv = write_frame_sweep_tables(results, str(tmp_path))
    text = open(md).read()
    assert '| 4 | 25.00 | 50.00 |' in text
    assert '| 8 |  | 62.50 |' in text
    rows = list(csv.reader(open(path_csv)))
    assert rows[0] == ['frames', 'TSM', 'FFN']
    assert rows[-1] == ['16', '75.00', '80.00']
    png = plot_frame_sweep(
        results,
        str(tmp_path / 'sweep.png'),
        trained={
            'FFN': [4, 8, 16],
            'TSM': [16]
        })
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert osp.getsize(png) > 5000


@pytest.mark.parametrize('counts', [[2, 4, 6, 8, 12, 16, 20], [4, 16],
                                    list(range(1, 33))])
def test_plot_ticks_are_whole_frame_counts(counts):
    """The x axis reads 2, 4, 6, ..., not 2.5, 7.5, ...: the swept counts
    themselves, or integer ticks over their range when there are many."""
    results = {'FFN': {t: 0.5 for t in counts}}
    fig = _frame_sweep_figure(results, {'FFN': counts[:1]}, 'sweep')
    fig.canvas.draw()
    ax = fig.axes[0]
    # int() refuses '2.5'; matplotlib writes minus as U+2212.
    ticks = [
        int(label.get_text().replace('\u2212', '-'))
        for label in ax.get_xticklabels()
    ]
    if len(counts) <= 12:
        assert ticks == counts
    else:  # thinned: integers, a readable number of them in view
        low, high = ax.get_xlim()
        assert 3 <= len([t for t in ticks if low <= t <= high]) <= 13
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_evaluate_at_frames_runs_the_test_loop(tiny_video_root, tmp_path):
    """A random FFN checkpoint: each T gives an accuracy in [0, 1]."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    cfg = Config.fromfile(FFN_DEMO)
    cfg.model.cls_head.num_classes = len(TINY_CLASSES)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'random.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    options = dict(
        opt.split('=', 1) for opt in tiny_cfg_options(tiny_video_root))
    options = {k: (int(v) if v.isdigit() else v) for k, v in options.items()}
    accs = evaluate_at_frames(
        FFN_DEMO,
        ckpt, [2, 6, 16],
        str(tmp_path / 'runs'),
        cfg_options=options)
    assert sorted(accs) == [2, 6, 16]
    # 8 validation videos: accuracies are multiples of 1/8.
    for acc in accs.values():
        assert 0.0 <= acc <= 1.0
        assert (acc * 8) == pytest.approx(round(acc * 8))
    with pytest.raises(ValueError, match='positive'):
        evaluate_at_frames(
            FFN_DEMO, ckpt, [0], str(tmp_path / 'x'), cfg_options=options)
