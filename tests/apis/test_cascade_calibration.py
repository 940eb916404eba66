"""Threshold calibration: a cascade's accuracy and cost computed from one
run of every count equal those of the cascade run itself; the sweep, the
pick and the files it writes."""
import json

import pytest
import torch

from mmffn.apis import calibrate_cascade, plot_calibration, write_calibration
from mmffn.apis.cascade_calibration import (CascadeRecords,
                                            _records_from_results,
                                            cascade_point, fixed_count_points,
                                            pick_thresholds, sweep_cascade)
from mmffn.evaluation import CascadeMetric
from tests.models.recognizers.test_cascade import COUNTS, SIZE, cascade, tsm


def hand_records():
    """Three videos, three classes, probabilities chosen by hand; each
    count's pass costs 1, 2 and 4 GFLOPs."""
    scores = torch.tensor([
        [[0.95, 0.03, 0.02], [0.90, 0.05, 0.05], [0.97, 0.02, 0.01]],  # 0
        [[0.50, 0.40, 0.10], [0.10, 0.85, 0.05], [0.05, 0.90, 0.05]],  # 1
        [[0.60, 0.30, 0.10], [0.55, 0.35, 0.10], [0.10, 0.10, 0.80]],  # 2
    ])
    return CascadeRecords(
        counts=COUNTS,
        scores=scores,
        labels=torch.tensor([0, 1, 2]),
        gflops=torch.tensor([[1., 2., 4.]] * 3, dtype=torch.float64),
        frames=torch.tensor([[4, 8, 16]] * 3),
        average_clips='prob')


def test_a_point_by_hand():
    point = cascade_point(hand_records(), (0.9, 0.8))
    # video 0 stops at 4 (0.95, right), 1 at 8 (0.85, right), 2 at 16.
    assert point['accuracy'] == pytest.approx(1.0)
    assert point['mean_gflops'] == pytest.approx((1 + 3 + 7) / 3)
    assert point['mean_frames'] == pytest.approx((4 + 12 + 28) / 3)
    assert point['shares'] == pytest.approx({4: 1 / 3, 8: 1 / 3, 16: 1 / 3})
    # Lower thresholds: videos 1 (0.50 -> class 0, wrong) and 2 (0.60 ->
    # class 0, wrong) stop at 4.
    cheap = cascade_point(hand_records(), (0.5, 0.5))
    assert cheap['accuracy'] == pytest.approx(1 / 3)
    assert cheap['mean_gflops'] == pytest.approx(1.0)
    assert cheap['shares'][4] == pytest.approx(1.0)


def test_fixed_counts_and_the_pick():
    records = hand_records()
    fixed = fixed_count_points(records)
    assert [p['accuracy'] for p in fixed] == pytest.approx([1 / 3, 2 / 3, 1])
    assert [p['mean_gflops'] for p in fixed] == pytest.approx([1, 2, 4])
    result = calibrate_cascade(records, max_drop=0.5, grid=(0.5, 0.8, 0.9))
    assert len(result['points']) == 9
    picked = result['picked']
    # Full accuracy needs video 1 past 4 frames (t4 > 0.5) and video 2 past
    # 8 (t8 > 0.55); the cheapest such point costs 11/3 GFLOPs per video.
    assert picked['accuracy'] == pytest.approx(1.0)
    assert picked['mean_gflops'] == pytest.approx(11 / 3)
    assert picked['thresholds'] in {(0.8, 0.8), (0.8, 0.9), (0.9, 0.8),
                                    (0.9, 0.9)}
    assert result['gflops_saving'] == pytest.approx(1 - 11 / 12)
    assert result['saves']
    assert str(picked['thresholds']) in result['config']
    # A drop of 40 points allows 2/3 accuracy: video 2 may stop wrong.
    loose = calibrate_cascade(records, max_drop=40, grid=(0.5, 0.8, 0.9))
    assert loose['picked']['accuracy'] == pytest.approx(2 / 3)
    assert loose['picked']['mean_gflops'] < 11 / 3


def test_no_point_within_the_drop_gives_none():
    points = [dict(accuracy=0.5, mean_gflops=1.0)]
    assert pick_thresholds(points, 0.9, 0.5) is None
    with pytest.raises(ValueError, match='cannot be negative, got -1'):
        pick_thresholds(points, 0.9, -1)


@pytest.mark.parametrize('grid', [(0.0, 0.5), (0.5, 1.5), (True, )])
def test_grid_thresholds_outside_zero_one_are_named(grid):
    with pytest.raises(ValueError, match=r'lie in \(0, 1\]'):
        sweep_cascade(hand_records(), grid)


@pytest.mark.parametrize('function, args', [
    (cascade_point, ((0.5, 0.5), )),
    (sweep_cascade, ((0.5, ), )),
])
def test_records_without_one_score_per_video_name_the_function(function, args):
    records = hand_records()._replace(average_clips=None)
    with pytest.raises(
            ValueError,
            match=rf"^{function.__name__}: .* must be 'prob' or 'score', "
            'got None'):
        function(records, *args)


def test_thresholds_of_the_wrong_length_are_named():
    with pytest.raises(ValueError, match=r'needs 2 values .* got \(0.5,\)'):
        cascade_point(hand_records(), (0.5, ))


def test_results_that_stopped_early_or_lack_labels_are_refused():
    full = dict(
        counts=COUNTS,
        label=0,
        scores=torch.ones(3, 2),
        count_gflops=torch.ones(3),
        count_frames=torch.ones(3))
    with pytest.raises(ValueError, match='needs thresholds=None'):
        _records_from_results([dict(counts=COUNTS, label=0)], 'prob')
    with pytest.raises(ValueError, match='1 of 1 calibration videos have no'):
        _records_from_results([dict(full, label=-1)], 'prob')
    with pytest.raises(ValueError, match='empty'):
        _records_from_results([], 'prob')


@pytest.mark.parametrize('average_clips', ['prob', 'score'])
def test_calibration_equals_the_cascade_it_predicts(average_clips):
    """Records from a thresholds=None run (through CascadeMetric), replayed
    at some thresholds, give what the cascade with those thresholds gives,
    video by video."""
    model = tsm(average_clips=average_clips)
    views = 2
    inputs = torch.randn(8, views * sum(COUNTS), 3, SIZE, SIZE)
    metric = CascadeMetric()
    with torch.no_grad():
        full = cascade(model, inputs, thresholds=None)
    metric.process({}, [s.to_dict() for s in full])
    metric.compute_metrics(metric.results)
    records = _records_from_results(metric.last_results, average_clips)
    sure = torch.stack([s.cascade_scores for s in full])
    if average_clips == 'score':
        sure = sure.softmax(-1)
    sure = sure.max(-1).values
    thresholds = (float(sure[:, 0].median()), float(sure[:, 1].median()))
    with torch.no_grad():
        out = cascade(model, inputs, thresholds)
    point = cascade_point(records, thresholds)
    labels = torch.tensor([int(s.gt_label) for s in out])
    predicted = torch.stack([s.pred_score for s in out]).argmax(-1)
    assert point['accuracy'] == pytest.approx(
        float((predicted == labels).double().mean()))
    assert point['mean_gflops'] == pytest.approx(
        sum(s.cascade_gflops for s in out) / len(out))
    assert point['mean_frames'] == pytest.approx(
        sum(s.cascade_frames for s in out) / len(out))
    for count in COUNTS:
        share = sum(s.cascade_count == count for s in out) / len(out)
        assert point['shares'][count] == pytest.approx(share)
    assert 0 < point['shares'][4] < 1  # the thresholds split the videos


def test_files_and_plot(tmp_path):
    result = calibrate_cascade(hand_records(), 0.5, (0.5, 0.8, 0.9))
    json_path, md_path = write_calibration(result, str(tmp_path))
    saved = json.load(open(json_path))
    assert saved['picked']['mean_gflops'] == pytest.approx(11 / 3)
    assert len(saved['points']) == 9
    table = open(md_path).read()
    assert '| 16 frames | 100.00 | 4.000 | 16.00 |' in table
    assert '(picked)' in table
    png = plot_calibration(result, str(tmp_path / 'c.png'))
    assert open(png, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'


def test_a_cascade_that_costs_more_than_the_highest_count_is_flagged():
    # Only thresholds that no video reaches: every video runs 4, 8 and 16.
    result = calibrate_cascade(hand_records(), max_drop=0.5, grid=(0.99, ))
    assert result['picked']['mean_gflops'] == pytest.approx(7.0)
    assert result['gflops_saving'] == pytest.approx(1 - 7 / 4)
    assert not result['saves']
