"""RecognizerFFN: multi-rate loss and any-frame prediction."""
import os.path as osp

import mmaction
import pytest
import torch
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401
from mmffn.apis import build_deployed
from tests.shared_builders import recognizer_ffn_cfg

COUNTS = (4, 8, 16)
NUM_CLASSES = 5


def build_model(**overrides):
    init_default_scope('mmaction')
    cfg = recognizer_ffn_cfg(
        dict(type='ResNetTSM_FFN', depth=18, num_segments_list=COUNTS),
        in_channels=512,
        num_classes=NUM_CLASSES,
        num_segments=COUNTS[-1])
    cfg.update(overrides)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.cfg_for_tests = cfg
    # Make branches differ so that using the wrong one shows.
    with torch.no_grad():
        for name, p in model.backbone.named_parameters():
            if 'branches' in name or 'alteration' in name:
                p.add_(torch.randn_like(p) * 0.1)
    return model


def stock_recognizer(model, frames):
    """MMAction2's Recognizer2D computing ``model``'s branch at ``frames``
    (mmffn.apis.deployment folds the branch into stock TSM weights)."""
    return build_deployed(model, model.cfg_for_tests, frames)


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
    data = samples(2, clip_lens=COUNTS)
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
    assert losses['loss_cls'].item() == pytest.approx(
        expected_ce.item(), rel=1e-5)
    assert losses['loss_distill'].item() == pytest.approx(
        expected_kl.item(), rel=1e-4)
    assert model.cls_head.num_segments == 16  # restored after each count


def test_loss_rejects_wrong_frame_layout():
    model = build_model()
    with pytest.raises(ValueError, match='28'):
        model(torch.randn(2, 16, 3, 32, 32), samples(2), mode='loss')
    with pytest.raises(ValueError, match='do not match'):
        model(
            torch.randn(2, 28, 3, 32, 32),
            samples(2, clip_lens=(4, 8, 12, 4)),
            mode='loss')


@pytest.mark.parametrize('count', [4, 6, 8, 12, 16, 20])
def test_predict_uses_branch_and_real_count(count):
    model = build_model().eval()
    inputs = torch.randn(2, count, 3, 32, 32)
    with torch.no_grad():
        out = model(
            inputs, samples(2, num_clips=count, clip_len=1), mode='predict')
        expected = F.softmax(logits_at(model, inputs, count), dim=1)
    got = torch.stack([s.pred_score for s in out])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_predict_with_several_views_averages_views():
    model = build_model().eval()
    count = 8
    inputs = torch.randn(2, 3 * count, 3, 32, 32)  # 3 views of 8 frames
    with torch.no_grad():
        out = model(
            inputs, samples(2, num_clips=count, clip_len=1), mode='predict')
        views = inputs.view(2 * 3, count, 3, 32, 32)
        probs = F.softmax(logits_at(model, views, count), 1).view(2, 3, -1)
    got = torch.stack([s.pred_score for s in out])
    torch.testing.assert_close(got, probs.mean(1), atol=1e-5, rtol=1e-4)


def test_max_testing_views_matches_one_pass():
    model = build_model().eval()
    inputs = torch.randn(2, 4 * 8, 3, 32, 32)
    data = samples(2, num_clips=8, clip_len=1)
    with torch.no_grad():
        full = torch.stack(
            [s.pred_score for s in model(inputs, data, mode='predict')])
        model.test_cfg = dict(max_testing_views=16)
        chunked = torch.stack([
            s.pred_score for s in model(
                inputs, samples(2, num_clips=8, clip_len=1), mode='predict')
        ])
    torch.testing.assert_close(chunked, full, atol=1e-5, rtol=1e-4)
    model.test_cfg = dict(max_testing_views=12)
    with pytest.raises(ValueError, match='multiple'):
        model(inputs, samples(2, num_clips=8), mode='predict')


def test_predict_errors_name_the_problem():
    model = build_model().eval()
    with pytest.raises(ValueError, match='not a multiple'):
        model(
            torch.randn(1, 10, 3, 32, 32),
            samples(1, num_clips=4),
            mode='predict')
    mixed = samples(1, num_clips=4) + samples(1, num_clips=8)
    with pytest.raises(ValueError, match='mixes frame counts'):
        model(torch.randn(2, 8, 3, 32, 32), mixed, mode='predict')


def test_predict_without_num_clips_follows_recognizer2d():
    """Stock test pipelines keep no num_clips: T is the backbone's
    num_segments, so 48 frames are 6 views of 8, as in Recognizer2D."""
    model = build_model(
        backbone=dict(
            type='ResNetTSM_FFN',
            depth=18,
            num_segments_list=COUNTS,
            num_segments=8)).eval()
    stock = stock_recognizer(model, 8)
    inputs = torch.randn(2, 6 * 8, 3, 32, 32)
    with torch.no_grad():
        got = model(inputs, samples(2), mode='predict')
        expected = stock(inputs, samples(2), mode='predict')
        views = inputs.view(2 * 6, 8, 3, 32, 32)
        by_hand = F.softmax(logits_at(model, views, 8), 1).view(2, 6, -1)
    got = torch.stack([s.pred_score for s in got])
    torch.testing.assert_close(
        got,
        torch.stack([s.pred_score for s in expected]),
        atol=1e-5,
        rtol=1e-4)
    torch.testing.assert_close(got, by_hand.mean(1), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="backbone's num_segments.*: 8"):
        model(torch.randn(1, 12, 3, 32, 32), samples(1), mode='predict')


def test_tensor_mode_runs_branch_of_clip_length():
    model = build_model().eval()
    inputs = torch.randn(2, 8, 3, 32, 32)
    with torch.no_grad():
        got = model(inputs, mode='tensor')
        with model.backbone.frame_count(8):
            expected = model.backbone(inputs.view(-1, 3, 32, 32))
    torch.testing.assert_close(got, expected)


def test_needs_frame_flexible_backbone():
    with pytest.raises(
            TypeError,
            match=r"frame-flexible backbone, got "
            r"ResNetTSM; supported: \['MobileNetV2TSM_FFN', "
            r"'ResNetTIN_FFN', 'ResNetTSM_FFN', 'ResNet_FFN', 'TANet_FFN'\]"):
        build_model(
            backbone=dict(type='ResNetTSM', depth=18, pretrained2d=False))


# --- the head's own loss settings --------------------------------------------
HEAD_WITH_LOSS_SETTINGS = dict(
    type='TSMHead',
    num_classes=NUM_CLASSES,
    in_channels=512,
    num_segments=COUNTS[-1],
    dropout_ratio=0.0,
    average_clips='prob',
    label_smooth_eps=0.1,
    loss_cls=dict(
        type='CrossEntropyLoss',
        loss_weight=0.7,
        class_weight=[1.0, 2.0, 0.5, 1.5, 1.0]))


@pytest.mark.parametrize('soft_labels', [False, True])
def test_supervised_term_is_what_recognizer2d_computes(soft_labels):
    """FFN's loss minus its KL term equals Recognizer2D's loss with the same
    head (label smoothing, class weights, loss weight; hard labels or the
    soft ones of MixUp/CutMix) on the same 16-frame clip."""
    model = build_model(cls_head=HEAD_WITH_LOSS_SETTINGS).train()
    stock = stock_recognizer(model, COUNTS[-1]).train()
    inputs = torch.randn(3, sum(COUNTS), 3, 32, 32)
    data = samples(3, clip_lens=COUNTS)
    if soft_labels:
        for sample, label in zip(data, torch.rand(3, NUM_CLASSES)):
            sample.set_gt_label(label / label.sum())
    ffn_losses = model(inputs, data, mode='loss')
    stock_losses = stock(
        inputs[:, -COUNTS[-1]:].contiguous(), data, mode='loss')
    assert set(ffn_losses) == set(stock_losses) | {'loss_distill'}
    for key, value in stock_losses.items():
        assert ffn_losses[key].item() == pytest.approx(
            value.item(), rel=1e-5), key
    ffn_total, _ = model.parse_losses(ffn_losses)
    stock_total, _ = stock.parse_losses(stock_losses)
    assert (ffn_total - ffn_losses['loss_distill']).item() == pytest.approx(
        stock_total.item(), rel=1e-5)
    # The settings matter: plain cross-entropy would give another value.
    plain = build_model().train()
    plain.load_state_dict(model.state_dict())
    assert plain(inputs, data, mode='loss')['loss_cls'].item() != \
        pytest.approx(ffn_losses['loss_cls'].item(), rel=1e-3)


def test_distill_loss_must_be_the_kl_term_alone():
    with pytest.raises(TypeError, match='TemporalKLLoss'):
        build_model(distill_loss=dict(type='TemporalDistillationLoss'))
    model = build_model(
        distill_loss=dict(type='TemporalKLLoss', loss_weight=0.25)).train()
    inputs = torch.randn(2, sum(COUNTS), 3, 32, 32)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    ref = {
        c: logits_at(model, clip, c)
        for c, clip in zip(COUNTS, torch.split(inputs, COUNTS, dim=1))
    }
    teacher = F.softmax(ref[16], dim=1)
    expected = 0.25 * sum(
        F.kl_div(F.log_softmax(ref[c], 1), teacher, reduction='batchmean')
        for c in (4, 8))
    model.load_state_dict(state)
    losses = model(inputs, samples(2, clip_lens=COUNTS), mode='loss')
    assert losses['loss_distill'].item() == pytest.approx(
        expected.item(), rel=1e-4)


# --- necks: MMAction2's TPN  -------------------------------------------------
TPN_COUNTS = (4, 8)


def build_tpn_model(**test_cfg):
    """MMAction2's TPN-TSM model (its own base config) with FFN's backbone,
    small: depth 50 as upstream, 32 px, 5 classes."""
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', '_base_',
            'models', 'tpn_tsm_r50.py')).model
    cfg.type = 'RecognizerFFN'
    cfg.backbone.update(
        type='ResNetTSM_FFN', pretrained=None, num_segments_list=TPN_COUNTS)
    cfg.neck.aux_head_cfg.out_channels = NUM_CLASSES
    cfg.cls_head.update(num_classes=NUM_CLASSES, dropout_ratio=0.0)
    cfg.test_cfg = test_cfg or cfg.test_cfg
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.cfg_for_tests = cfg.to_dict()
    return model


def test_neck_aux_loss_per_count_and_as_recognizer2d():
    # Eval mode (running statistics, no dropout): in training mode the
    # neck's BatchNorms see 2 values per channel at this size, which turns
    # float round-off into different outputs.
    model = build_tpn_model().eval()
    stock = stock_recognizer(model, TPN_COUNTS[-1]).eval()
    inputs = torch.randn(2, sum(TPN_COUNTS), 3, 32, 32)
    data = samples(2, clip_lens=TPN_COUNTS)
    losses = model(inputs, data, mode='loss')
    stock_losses = stock(
        inputs[:, -TPN_COUNTS[-1]:].contiguous(), data, mode='loss')
    assert set(losses) == set(stock_losses) | {'loss_aux_4f', 'loss_distill'}
    for key in ('loss_aux', 'loss_cls'):
        assert losses[key].item() == pytest.approx(
            stock_losses[key].item(), rel=1e-4), key
    assert losses['loss_aux_4f'].item() > 0
    assert losses['loss_aux_4f'].requires_grad


@pytest.mark.parametrize('views', [1, 6])
def test_neck_model_tests_unlabelled_clips_with_any_view_count(views):
    """Testing passes no data samples to the neck, as Recognizer2D does: no
    labels needed, any number of views; fcn_test (TPN's test_cfg) pools
    over the real T, equal to stock Recognizer2D at that T."""
    model = build_tpn_model().eval()
    # Built first: TPNHead adds its fcn_test layer at the first test pass.
    stock = stock_recognizer(model, 4)
    inputs = torch.randn(1, views * 4, 3, 32, 32)
    unlabelled = samples(1, labels=False, num_clips=4)
    with torch.no_grad():
        got = model(inputs, unlabelled, mode='predict')[0].pred_score
        expected = stock(
            inputs, samples(1, labels=False), mode='predict')[0].pred_score
    assert got.shape == (NUM_CLASSES, )
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_fcn_test_uses_the_clip_frame_count():
    """Without a neck, fcn_test reshapes features by T: the real count, not
    the backbone's configured num_segments."""
    head = dict(
        type='TPNHead',
        num_classes=NUM_CLASSES,
        in_channels=512,
        dropout_ratio=0.0,
        average_clips='prob')
    model = build_model(cls_head=head, test_cfg=dict(fcn_test=True)).eval()
    # Built first: TPNHead adds its fcn_test layer at the first test pass.
    stock = stock_recognizer(model, 4)
    inputs = torch.randn(1, 4, 3, 32, 32)
    with torch.no_grad():
        got = model(inputs, samples(1, num_clips=4), mode='predict')
        expected = stock(inputs, samples(1), mode='predict')
    torch.testing.assert_close(
        got[0].pred_score, expected[0].pred_score, atol=1e-5, rtol=1e-4)
