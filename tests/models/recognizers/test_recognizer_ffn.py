"""RecognizerFFN: multi-rate loss and any-frame prediction."""
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401

COUNTS = (4, 8, 16)
NUM_CLASSES = 5


def build_model(**overrides):
    init_default_scope('mmaction')
    cfg = dict(
        type='RecognizerFFN',
        backbone=dict(type='ResNetTSM_FFN', depth=18,
                      num_segments_list=COUNTS),
        cls_head=dict(type='TSMHead', num_classes=NUM_CLASSES,
                      in_channels=512, num_segments=COUNTS[-1],
                      dropout_ratio=0.0, average_clips='prob'),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCHW'))
    cfg.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    # Make branches differ so that using the wrong one shows.
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if 'branches' in name or 'alteration' in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def samples(n, labels=True, **meta):
    out = []
    for i in range(n):
        s = ActionDataSample()
        if labels:
            s.set_gt_label(torch.tensor([i % NUM_CLASSES]))
        s.set_metainfo(meta)
        out.append(s)
    return out


def logits_at(model, clip, count):
    """Reference: backbone branch of `count`, head pooling over `count`."""
    n = clip.shape[0]
    with model.backbone.frame_count(count):
        feats = model.backbone(clip.reshape((-1, ) + clip.shape[2:]))
    feats = F.adaptive_avg_pool2d(feats, 1).flatten(1)
    scores = model.cls_head.fc_cls(feats).view(n, -1, NUM_CLASSES)
    return scores.mean(1)


def test_loss_is_distillation_of_per_count_logits():
    model = build_model()
    model.train()
    inputs = torch.randn(2, sum(COUNTS), 3, 32, 32)
    data = samples(2, frame_counts=COUNTS)
    # Reference computed first on the same (train-mode) BN statistics state.
    state = {k: v.clone() for k, v in model.state_dict().items()}
    clips = torch.split(inputs, COUNTS, dim=1)
    ref = {c: logits_at(model, clip, c) for c, clip in zip(COUNTS, clips)}
    labels = torch.tensor([0, 1])
    expected_ce = F.cross_entropy(ref[16], labels)
    teacher = F.softmax(ref[16], dim=1)
    expected_kl = sum(
        F.kl_div(F.log_softmax(ref[c], 1), teacher, reduction='batchmean')
        for c in (4, 8))
    model.load_state_dict(state)
    losses = model(inputs, data, mode='loss')
    assert set(losses) >= {'loss_cls', 'loss_distill', 'top1_acc'}
    assert losses['loss_cls'].item() == pytest.approx(expected_ce.item(),
                                                      rel=1e-5)
    assert losses['loss_distill'].item() == pytest.approx(
        expected_kl.item(), rel=1e-4)
    assert model.cls_head.num_segments == 16  # restored after each count


def test_loss_rejects_wrong_frame_layout():
    model = build_model()
    with pytest.raises(ValueError, match='28'):
        model(torch.randn(2, 16, 3, 32, 32), samples(2), mode='loss')
    with pytest.raises(ValueError, match='do not match'):
        model(torch.randn(2, 28, 3, 32, 32),
              samples(2, frame_counts=(4, 8, 12, 4)), mode='loss')


@pytest.mark.parametrize('count', [4, 6, 8, 12, 16, 20])
def test_predict_uses_branch_and_real_count(count):
    model = build_model().eval()
    inputs = torch.randn(2, count, 3, 32, 32)
    with torch.no_grad():
        out = model(inputs, samples(2, num_clips=count, clip_len=1),
                    mode='predict')
        expected = F.softmax(logits_at(model, inputs, count), dim=1)
    got = torch.stack([s.pred_score for s in out])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_predict_with_several_views_averages_views():
    model = build_model().eval()
    count = 8
    inputs = torch.randn(2, 3 * count, 3, 32, 32)  # 3 views of 8 frames
    with torch.no_grad():
        out = model(inputs, samples(2, num_clips=count, clip_len=1),
                    mode='predict')
        views = inputs.view(2 * 3, count, 3, 32, 32)
        probs = F.softmax(logits_at(model, views, count), 1).view(2, 3, -1)
    got = torch.stack([s.pred_score for s in out])
    torch.testing.assert_close(got, probs.mean(1), atol=1e-5, rtol=1e-4)


def test_max_testing_views_matches_one_pass():
    model = build_model().eval()
    inputs = torch.randn(2, 4 * 8, 3, 32, 32)
    data = samples(2, num_clips=8, clip_len=1)
    with torch.no_grad():
        full = torch.stack([s.pred_score for s in model(
            inputs, data, mode='predict')])
        model.test_cfg = dict(max_testing_views=16)
        chunked = torch.stack([s.pred_score for s in model(
            inputs, samples(2, num_clips=8, clip_len=1), mode='predict')])
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=1e-4)
    model.test_cfg = dict(max_testing_views=12)
    with pytest.raises(ValueError, match='multiple'):
        model(inputs, samples(2, num_clips=8), mode='predict')


def test_predict_errors_name_the_problem():
    model = build_model().eval()
    with pytest.raises(ValueError, match='not a multiple'):
        model(torch.randn(1, 10, 3, 32, 32), samples(1, num_clips=4),
              mode='predict')
    mixed = samples(1, num_clips=4) + samples(1, num_clips=8)
    with pytest.raises(ValueError, match='mixes frame counts'):
        model(torch.randn(2, 8, 3, 32, 32), mixed, mode='predict')


def test_predict_without_num_clips_takes_all_frames_with_warning():
    model = build_model().eval()
    inputs = torch.randn(1, 6, 3, 32, 32)
    type(model)._warned_missing_num_clips = False
    with pytest.warns(UserWarning, match='num_clips'), torch.no_grad():
        out = model(inputs, samples(1), mode='predict')
        expected = F.softmax(logits_at(model, inputs, 6), dim=1)[0]
    torch.testing.assert_close(out[0].pred_score, expected, atol=1e-5,
                               rtol=1e-4)


def test_tensor_mode_runs_branch_of_clip_length():
    model = build_model().eval()
    inputs = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        got = model(inputs, mode='tensor')
        with model.backbone.frame_count(8):
            expected = model.backbone(inputs.view(-1, 3, 32, 32))
    torch.testing.assert_close(got, expected)


def test_needs_frame_flexible_backbone():
    with pytest.raises(TypeError, match='frame-flexible backbone'):
        build_model(backbone=dict(type='ResNetTSM', depth=18,
                                  pretrained2d=False))
