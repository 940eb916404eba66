"""Peer of MMAction2's ``tests/models/recognizers/test_recognizer2d.py``.

Its ``train_test_step`` helper (a train step with a mocked optimizer wrapper,
a test step, then a test step on "twice sample + 3 crops") is written again
for ``RecognizerFFN`` and applied to the two upstream cases built on
ResNetTSM: the TSM-R50 config (``test_tsm``) and the TPN-TSM config
(``test_tpn``), both turned into FFN (RecognizerFFN + ResNetTSM_FFN with
counts (4, 8), no pretrained weights). Training inputs hold the frames of
every count, (N, 4 + 8, C, H, W). Test data samples carry ``num_clips`` as a
test pipeline keeping it would set; further cases check what stock test
pipelines give (no ``num_clips``, no labels) against a stock Recognizer2D
holding the same weights.
"""
import copy
from contextlib import contextmanager
from unittest.mock import MagicMock

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import register_all_modules
from mmengine.hub import get_config
from shared_builders import randomise_norms

import mmffn  # noqa: F401  (registers RecognizerFFN, ResNetTSM_FFN)
from mmffn.models.backbones import convert_pretrained_state_dict
from mmffn.models.layers import WeightAlteredConv2d

register_all_modules()

TSM_CFG = ('mmaction::recognition/tsm/'
           'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py')
TPN_CFG = ('mmaction::recognition/tpn/'
           'tpn-tsm_imagenet-pretrained-r50_8xb8-1x1x8-150e_sthv1-rgb.py')
COUNTS = (4, 8)


def upstream_model_cfg(path):
    """The upstream model config, offline (no pretrained backbone)."""
    model = get_config(path).model
    model.backbone.pretrained = None
    model.backbone.pretrained2d = False
    return model


def ffn_model_cfg(path, counts=COUNTS):
    """The upstream config turned into FFN."""
    model = upstream_model_cfg(path)
    model.type = 'RecognizerFFN'
    model.backbone.type = 'ResNetTSM_FFN'
    model.backbone.num_segments_list = counts
    return model


def build_ffn(path, counts=COUNTS):
    torch.manual_seed(0)
    model = MODELS.build(ffn_model_cfg(path, counts))
    model.init_weights()
    return model


def frames(num_frames, size, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(
        0, 256, (num_frames, 3, size, size), generator=gen, dtype=torch.uint8)


def labelled(batch_size, **meta):
    samples = []
    for _ in range(batch_size):
        sample = ActionDataSample().set_gt_label(2)
        if meta:
            sample.set_metainfo(meta)
        samples.append(sample)
    return samples


def unlabelled(batch_size, **meta):
    samples = []
    for _ in range(batch_size):
        sample = ActionDataSample()
        if meta:
            sample.set_metainfo(meta)
        samples.append(sample)
    return samples


def check_scores(predictions, batch_size, num_classes):
    assert len(predictions) == batch_size
    for prediction in predictions:
        score = prediction.pred_score
        assert score.shape == torch.Size([num_classes])
        assert torch.min(score) >= 0 and torch.max(score) <= 1
        # average_clips='prob' in both configs: a distribution.
        torch.testing.assert_close(
            score.sum(), torch.tensor(1.), atol=1e-4, rtol=0)


def ffn_train_test_step(model, batch_size, size, test_count):
    """upstream train_test_step for RecognizerFFN."""
    num_classes = model.cls_head.num_classes
    train_batch = dict(
        inputs=[frames(sum(COUNTS), size, seed=i) for i in range(batch_size)],
        data_samples=labelled(batch_size, clip_lens=COUNTS))

    # train_step
    model.train()
    optim_wrapper = MagicMock()
    loss_vars = model.train_step(train_batch, optim_wrapper)
    assert 'loss' in loss_vars
    assert 'loss_cls' in loss_vars
    optim_wrapper.update_params.assert_called_once()
    # parse_losses: 'loss' is the sum of every loss term, and it is finite.
    parsed = optim_wrapper.update_params.call_args[0][0]
    assert torch.isfinite(parsed)
    terms = [
        float(v) for k, v in loss_vars.items() if 'loss' in k and k != 'loss'
    ]
    assert float(loss_vars['loss']) == pytest.approx(sum(terms), rel=1e-5)
    assert float(parsed) == pytest.approx(float(loss_vars['loss']), rel=1e-5)

    # test_step: one clip of test_count frames per sample
    model.eval()
    test_batch = dict(
        inputs=[frames(test_count, size, seed=i) for i in range(batch_size)],
        data_samples=labelled(batch_size, num_clips=test_count))
    with torch.no_grad():
        predictions = model.test_step(test_batch)
    check_scores(predictions, batch_size, num_classes)

    # twice sample + 3 crops: 6 views of test_count frames
    views = dict(
        inputs=[frames(test_count * 2 * 3, size, seed=7)],
        data_samples=labelled(1, num_clips=test_count))
    with torch.no_grad():
        predictions = model.test_step(views)
    check_scores(predictions, 1, num_classes)
    return loss_vars, predictions


# --- stock Recognizer2D and FFN recognizer holding the same weights ---------
def build_stock(path, num_segments=None):
    stock_cfg = upstream_model_cfg(path)
    if num_segments is not None:
        stock_cfg.backbone.num_segments = num_segments
        if stock_cfg.cls_head.type == 'TSMHead':  # it pools num_segments
            stock_cfg.cls_head.num_segments = num_segments
    return MODELS.build(stock_cfg).eval()


def stock_and_ffn(path, num_segments=None):
    """A stock Recognizer2D from the upstream config and the FFN one with the
    same weights (adapters at zero), both in eval mode."""
    torch.manual_seed(0)
    stock = build_stock(path, num_segments)
    # BaseModule init only: ResNetTSM.init_weights would fetch ImageNet.
    stock.backbone.pretrained2d = False
    stock.init_weights()
    randomise_norms(stock)
    with torch.no_grad():  # a non-trivial classifier
        for param in stock.cls_head.parameters():
            param.normal_(0, 0.05)
    ffn = build_ffn(path)
    state = stock.state_dict()
    result = convert_pretrained_state_dict(state, ffn.backbone.state_dict())
    assert not result.missing and not result.mismatched
    ffn.backbone.load_state_dict(result.state_dict, strict=False)
    for module in ffn.backbone.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.0)
    rest = {k: v for k, v in state.items() if not k.startswith('backbone.')}
    missing, unexpected = ffn.load_state_dict(rest, strict=False)
    assert not unexpected
    assert all(k.startswith('backbone.') for k in missing)
    stock.eval()
    ffn.eval()
    return stock, ffn


def predict_scores(model, inputs, samples):
    with torch.no_grad():
        predictions = model.test_step(
            dict(inputs=inputs, data_samples=samples))
    return torch.stack([p.pred_score for p in predictions])


@contextmanager
def restored(model):
    """Undo what a training-mode forward does to the weights (BN stats)."""
    state = copy.deepcopy(model.state_dict())
    try:
        yield model
    finally:
        # strict=False: TPNHead adds its fcn_test classifier (new_cls) on
        # first use, built from fc_cls; nothing else may differ.
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected
        assert all(k.startswith('cls_head.new_cls.') for k in missing)
        model.eval()


# --- upstream: test_tsm (tsm-res50)  -----------------------------------------
@pytest.fixture(scope='module')
def tsm_pair():
    return stock_and_ffn(TSM_CFG)


def test_tsm_r50_train_test_step(tsm_pair):
    _, ffn = tsm_pair
    with restored(ffn):
        loss_vars, _ = ffn_train_test_step(
            ffn, batch_size=1, size=32, test_count=8)
    assert 'loss_distill' in loss_vars
    assert ffn.cls_head.num_classes == 400


@pytest.fixture(scope='module')
def tsm_six_views(tsm_pair):
    """6 views of 8 frames and the stock Recognizer2D's prediction."""
    stock, _ = tsm_pair
    inputs = [frames(48, 32, seed=1)]
    return inputs, predict_scores(stock, inputs, labelled(1))


def test_tsm_six_views_with_num_clips_match_recognizer2d(
        tsm_pair, tsm_six_views):
    _, ffn = tsm_pair
    inputs, expected = tsm_six_views
    scores = predict_scores(ffn, inputs, labelled(1, num_clips=8))
    assert scores.shape == (1, 400)
    torch.testing.assert_close(scores, expected, atol=1e-7, rtol=1e-4)


def test_tsm_six_views_without_num_clips_match_recognizer2d(
        tsm_pair, tsm_six_views):
    """Stock test pipelines do not keep num_clips: then RecognizerFFN must
    do as Recognizer2D, clips of the backbone's num_segments (48 frames =
    6 views of 8)."""
    _, ffn = tsm_pair
    assert ffn.backbone.num_segments == 8
    inputs, expected = tsm_six_views
    scores = predict_scores(ffn, inputs, labelled(1))
    assert scores.shape == (1, 400)
    torch.testing.assert_close(scores, expected, atol=1e-7, rtol=1e-4)


def test_tsm_batch_of_two_without_num_clips_match_recognizer2d(tsm_pair):
    stock, ffn = tsm_pair
    inputs = [frames(8, 32, seed=3), frames(8, 32, seed=4)]
    expected = predict_scores(stock, inputs, unlabelled(2))
    scores = predict_scores(ffn, inputs, unlabelled(2))
    assert scores.shape == (2, 400)
    torch.testing.assert_close(scores, expected, atol=1e-7, rtol=1e-4)


def test_tsm_at_four_frames_matches_recognizer2d_of_four_segments(tsm_pair):
    """At T=4 (num_clips=4), FFN (adapters at zero) is the stock model built
    for 4 segments: shift and head pooling over 4 frames."""
    stock8, ffn = tsm_pair
    stock = build_stock(TSM_CFG, num_segments=4)
    stock.load_state_dict(stock8.state_dict())
    inputs = [frames(24, 32, seed=5)]  # 6 views of 4
    expected = predict_scores(stock, inputs, labelled(1))
    scores = predict_scores(ffn, inputs, labelled(1, num_clips=4))
    torch.testing.assert_close(scores, expected, atol=1e-7, rtol=1e-4)


# --- upstream: test_tpn  -----------------------------------------------------
@pytest.fixture(scope='module')
def tpn_pair():
    """Stock TPN recognizer built for 4 segments, FFN one (default 8)."""
    return stock_and_ffn(TPN_CFG, num_segments=4)


def test_tpn_train_test_step(tpn_pair):
    # Upstream: 64 px, 8 frames; the TPN config tests with fcn_test.
    _, ffn = tpn_pair
    assert ffn.test_cfg['fcn_test']
    with restored(ffn):
        ffn_train_test_step(ffn, batch_size=1, size=64, test_count=8)
    assert ffn.cls_head.num_classes == 174


def test_tpn_loss_keeps_the_neck_aux_loss(tpn_pair):
    """Recognizer2D adds the TPN neck's ``loss_aux`` to the losses."""
    _, ffn = tpn_pair
    batch = dict(
        inputs=[frames(sum(COUNTS), 64)],
        data_samples=labelled(1, clip_lens=COUNTS))
    with restored(ffn):
        ffn.train()
        losses = ffn(**ffn.data_preprocessor(batch, True), mode='loss')
    assert 'loss_aux' in losses
    assert losses['loss_aux'].requires_grad
    assert torch.isfinite(losses['loss_aux']) and losses['loss_aux'] > 0


def test_tpn_tsm_counts_above_its_downsample_scale_are_named():
    """The TPN neck pools time by 8 and TPNHead keeps the rest: at the
    default counts (4, 8, 16) the 16-frame pass would give the classifier
    2 x 2048 features ("mat1 and mat2 shapes cannot be multiplied");
    the build names the counts instead, and (2, 4, 8) trains."""
    from mmffn.models.recognizers.count_support import CountsNotSupported
    with pytest.raises(CountsNotSupported) as error:
        MODELS.build(ffn_model_cfg(TPN_CFG, (4, 8, 16)))
    assert 'runs at counts <= 8' in str(error.value)
    assert '[16] too large' in str(error.value)
    assert error.value.suggested == (2, 4, 8)
    torch.manual_seed(0)
    ffn = MODELS.build(ffn_model_cfg(TPN_CFG, (2, 4, 8))).train()
    batch = dict(
        inputs=[frames(14, 64)], data_samples=labelled(1, clip_lens=(2, 4, 8)))
    losses = ffn(**ffn.data_preprocessor(batch, True), mode='loss')
    assert {'loss_cls', 'loss_aux', 'loss_distill'} <= set(losses)
    assert all(torch.isfinite(v) for k, v in losses.items() if 'loss' in k)


def test_tpn_predicts_unlabelled_samples(tpn_pair):
    """Test data without gt_label (unlabelled videos)."""
    _, ffn = tpn_pair
    batch = dict(
        inputs=[frames(8, 64)], data_samples=unlabelled(1, num_clips=8))
    with torch.no_grad():
        predictions = ffn.test_step(batch)
    check_scores(predictions, 1, 174)


def test_tpn_fcn_test_at_four_frames_matches_recognizer2d_of_four_segments(
        tpn_pair):
    """test_cfg fcn_test: Recognizer2D reshapes the neck input by
    backbone.num_segments; for FFN that must be the clip's frame count."""
    stock, ffn = tpn_pair
    assert ffn.test_cfg['fcn_test'] and ffn.backbone.num_segments == 8
    inputs = [frames(8, 64, seed=6)]  # 2 views of 4
    expected = predict_scores(stock, inputs, unlabelled(1))
    scores = predict_scores(ffn, inputs, unlabelled(1, num_clips=4))
    assert scores.shape == (1, 174)
    torch.testing.assert_close(scores, expected, atol=1e-7, rtol=1e-4)
