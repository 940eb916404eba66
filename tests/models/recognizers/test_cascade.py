"""Cascade testing (test_cfg.cascade): each video stops at the first count
whose top class probability reaches its threshold, with each count's own
branch on its own clip; the cost is counted per video."""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401
from mmffn.apis import cascade_model, frame_flexible_model
from mmffn.models.recognizers.cascade import backbone_gflops
from tests.shared_builders import TINY_SLOWFAST, recognizer_ffn_cfg

COUNTS = (4, 8, 16)
NUM_CLASSES = 5
SIZE = 16  # ResNet-18 still ends at 1x1 px; keeps the file fast


def tsm(test_cfg=None, average_clips='prob'):
    init_default_scope('mmaction')
    cfg = dict(
        recognizer_ffn_cfg(
            dict(type='ResNetTSM_FFN', depth=18, num_segments_list=COUNTS),
            512, NUM_CLASSES, COUNTS[-1], average_clips),
        test_cfg=test_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    with torch.no_grad():  # branches that differ, so a wrong one shows
        for name, p in model.named_parameters():
            if 'branches' in name or 'alteration' in name:
                p.add_(torch.randn_like(p) * 0.3)
            if 'fc_cls' in name:
                p.mul_(20)  # confident enough to stop somewhere
    return model.eval()


def samples(n, **meta):
    out = []
    for i in range(n):
        sample = ActionDataSample()
        sample.set_gt_label(torch.tensor([i % NUM_CLASSES]))
        sample.set_metainfo(meta)
        out.append(sample)
    return out


def count_clip_2d(inputs, views, counts, count):
    """The frames of ``count`` in a multi-rate 2D test clip, by index: view
    v holds every count's clip, lowest first."""
    offset = sum(c for c in counts if c < count)
    index = [
        v * sum(counts) + offset + f for v in range(views)
        for f in range(count)
    ]
    return inputs[:, index]


def reference_2d(model, inputs, views, counts=COUNTS):
    """Each count's scores through the ordinary one-count predict."""
    scores = {}
    for count in counts:
        clip = count_clip_2d(inputs, views, counts, count)
        out = model.predict(clip, samples(len(inputs), num_clips=count))
        scores[count] = torch.stack([s.pred_score for s in out])
    return scores


def cascade(model, inputs, thresholds, counts=COUNTS):
    model.test_cfg = dict(cascade=dict(counts=counts, thresholds=thresholds))
    return model.predict(inputs, samples(len(inputs), clip_lens=counts))


@pytest.mark.parametrize('views', [1, 6])  # 6: twice sample x three crops
def test_every_count_runs_its_branch_on_its_clip(views):
    model = tsm()
    inputs = torch.randn(2, views * sum(COUNTS), 3, SIZE, SIZE)
    with torch.no_grad():
        expected = reference_2d(model, inputs, views)
        out = cascade(model, inputs, thresholds=None)
    cache = {}
    gflops = {}
    for count in COUNTS:
        with model.backbone.frame_count(count):
            gflops[count] = backbone_gflops(model.backbone,
                                            torch.randn(count, 3, SIZE, SIZE),
                                            cache)
    for i, sample in enumerate(out):
        for k, count in enumerate(COUNTS):
            torch.testing.assert_close(
                sample.cascade_scores[k],
                expected[count][i],
                atol=1e-5,
                rtol=1e-5)
        torch.testing.assert_close(sample.pred_score, expected[16][i])
        assert sample.cascade_count == 16
        assert sample.cascade_counts == COUNTS
        assert sample.cascade_frames == views * 28
        assert sample.cascade_gflops == pytest.approx(views *
                                                      sum(gflops.values()))
        assert sample.cascade_count_gflops.tolist() == pytest.approx(
            [views * gflops[c] for c in COUNTS])


def test_a_video_stops_at_the_first_confident_count():
    model = tsm()
    views = 2
    inputs = torch.randn(6, views * sum(COUNTS), 3, SIZE, SIZE)
    with torch.no_grad():
        expected = reference_2d(model, inputs, views)
    sure = {c: s.max(-1).values for c, s in expected.items()}
    # Thresholds at the medians: some videos stop at 4, some at 8, the
    # rest at 16.
    thresholds = (float(sure[4].median()), float(sure[8].median()))
    with torch.no_grad():
        out = cascade(model, inputs, thresholds)
    stops = []
    for i, sample in enumerate(out):
        stop = 16
        if sure[4][i] >= thresholds[0]:
            stop = 4
        elif sure[8][i] >= thresholds[1]:
            stop = 8
        stops.append(stop)
        assert sample.cascade_count == stop
        torch.testing.assert_close(
            sample.pred_score, expected[stop][i], atol=1e-5, rtol=1e-5)
        run = [c for c in COUNTS if c <= stop]
        assert sample.cascade_frames == views * sum(run)
        assert 'cascade_scores' not in sample  # calibration only
    assert 4 in stops and 16 in stops


def test_a_threshold_of_one_rarely_stops_and_a_tiny_one_always_does():
    model = tsm()
    inputs = torch.randn(4, sum(COUNTS), 3, SIZE, SIZE)
    with torch.no_grad():
        low = cascade(model, inputs, (1e-6, 1e-6))
        cache = {}
        with model.backbone.frame_count(4):
            g4 = backbone_gflops(model.backbone, torch.randn(4, 3, SIZE, SIZE),
                                 cache)
    assert [s.cascade_count for s in low] == [4] * 4
    assert [s.cascade_frames for s in low] == [4] * 4
    assert [s.cascade_gflops for s in low] == pytest.approx([g4] * 4)


def test_tsm_backbone_flops_grow_with_the_count():
    """A 2D backbone runs frame by frame: FLOPs are linear in the count."""
    model = tsm()
    cache = {}
    flops = {}
    for count in COUNTS:
        with model.backbone.frame_count(count):
            flops[count] = backbone_gflops(model.backbone,
                                           torch.randn(count, 3, 64, 64),
                                           cache)
    assert flops[8] == pytest.approx(2 * flops[4], rel=1e-3)
    assert flops[16] == pytest.approx(4 * flops[4], rel=1e-3)
    # ResNet-18 at 64 px: about 1.82 GFLOPs per 224 px frame, scaled by
    # (64 / 224) ** 2 (MMEngine counts a multiply-add as one).
    assert flops[4] / 4 == pytest.approx(1.82 * (64 / 224)**2, rel=0.05)


def test_score_averaging_heads_use_the_softmax_of_the_mean_score():
    model = tsm(average_clips='score')
    inputs = torch.randn(4, sum(COUNTS), 3, SIZE, SIZE)
    with torch.no_grad():
        expected = reference_2d(model, inputs, 1)
    sure4 = expected[4].softmax(-1).max(-1).values
    threshold = float(sure4.median())
    with torch.no_grad():
        out = cascade(model, inputs, (threshold, 1.0))
    for i, sample in enumerate(out):
        assert (sample.cascade_count == 4) == bool(sure4[i] >= threshold)


def test_slowfast_cascade_splits_its_clips_of_count_times_resample_rate():
    stock = copy.deepcopy(TINY_SLOWFAST)
    init_default_scope('mmaction')
    cfg = frame_flexible_model(stock, COUNTS)
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    lengths = (16, 32, 64)  # resample_rate 4
    inputs = torch.randn(2, 3, 3, sum(lengths), 32, 32)  # 3 views
    with torch.no_grad():
        model.test_cfg = dict(cascade=dict(counts=COUNTS, thresholds=None))
        out = model.predict(inputs, samples(2, clip_lens=lengths))
        model.test_cfg = None
        for k, count in enumerate(COUNTS):
            start = sum(lengths[:k])
            clip = inputs[:, :, :, start:start + lengths[k]].contiguous()
            ref = model.predict(clip, samples(2))
            for i in range(2):
                torch.testing.assert_close(
                    out[i].cascade_scores[k],
                    ref[i].pred_score,
                    atol=1e-5,
                    rtol=1e-5)
    assert out[0].cascade_frames == 3 * sum(lengths)


# --- errors --------------------------------------------------------------
@pytest.mark.parametrize('cascade_cfg, message', [
    (dict(thresholds=(0.0, 0.5)),
     r'in \(0, 1\] \(top class probabilities\), got 0.0'),
    (dict(thresholds=(0.5, 1.5)),
     r'in \(0, 1\] \(top class probabilities\), got 1.5'),
    (dict(thresholds=(0.5, )), r'needs 2 values .* got \(0.5,\)'),
    (dict(counts=(4, 12), thresholds=(0.5, )),
     r'not trained: \[12\]; the trained counts are \(4, 8, 16\)'),
    (dict(counts=(8, ), thresholds=()), r'at least 2 counts, got .*\(8,\)'),
    (dict(counts=(4, 8)), 'thresholds must be one probability per count'),
    (dict(thresholds=(0.5, 0.5), thershold=1), r"unknown keys \['thershold'"),
])
def test_bad_cascade_settings_fail_when_the_model_is_built(
        cascade_cfg, message):
    with pytest.raises(ValueError, match=message):
        tsm(test_cfg=dict(cascade=cascade_cfg))


def test_cascade_model_refuses_a_stock_recognizer():
    stock = dict(
        type='Recognizer2D', backbone=dict(type='ResNetTSM', depth=18))
    with pytest.raises(ValueError, match="FFN recognizer.*'Recognizer2D'"):
        cascade_model(stock, thresholds=(0.9, 0.8))
    with pytest.raises(ValueError, match='got 2'):
        cascade_model(
            frame_flexible_model(
                dict(
                    stock,
                    cls_head=dict(
                        type='TSMHead', num_classes=3, in_channels=512)),
                COUNTS),
            thresholds=(2, 0.5))


def test_a_head_that_does_not_average_views_is_named():
    model = tsm(average_clips=None)
    inputs = torch.randn(1, sum(COUNTS), 3, SIZE, SIZE)
    with pytest.raises(
            ValueError,
            match="average_clips must be 'prob' or "
            "'score', got None"):
        cascade(model, inputs, (0.5, 0.5))


def test_clips_of_other_counts_are_named():
    model = tsm()
    model.test_cfg = dict(cascade=dict(counts=COUNTS, thresholds=(0.5, 0.5)))
    with pytest.raises(
            ValueError,
            match=r'clips of \(4, 8, 16\) frames .*'
            r'got clip_lens=\(4, 8\)'):
        model.predict(
            torch.randn(1, 12, 3, SIZE, SIZE), samples(1, clip_lens=(4, 8)))


def test_multi_rate_test_clips_without_a_cascade_are_refused():
    model = tsm()
    with pytest.raises(ValueError, match='only cascade testing reads'):
        model.predict(
            torch.randn(1, 28, 3, SIZE, SIZE), samples(1, clip_lens=COUNTS))
