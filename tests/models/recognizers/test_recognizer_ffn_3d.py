"""RecognizerFFN3D: the multi-count loss and any-count testing of
RecognizerFFN on MMAction2's 3D layout, against the stock Recognizer3D."""
import re

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope
from shared_builders import TINY_SLOWFAST as SLOWFAST
from shared_builders import TINY_X3D as X3D
from shared_builders import stock_and_ffn

import mmffn  # noqa: F401
from mmffn.apis import frame_flexible_model
from mmffn.models.families import FAMILIES

COUNTS = (2, 4)


def _pair(stock_cfg):
    init_default_scope('mmaction')
    return stock_and_ffn(stock_cfg, frame_flexible_model(stock_cfg, COUNTS))


def _samples(n, **meta):
    out = []
    for i in range(n):
        sample = ActionDataSample().set_gt_label(torch.tensor([i]))
        sample.set_metainfo(meta)
        out.append(sample)
    return out


@pytest.mark.parametrize('stock_cfg', [SLOWFAST, X3D], ids=['slowfast', 'x3d'])
def test_supervised_term_is_what_recognizer3d_computes(stock_cfg):
    """The head's loss on the highest count equals the stock Recognizer3D's
    loss on that clip alone (train mode, batch statistics); the total adds
    the distillation term."""
    stock, ffn = _pair(stock_cfg)
    lengths = tuple(ffn.backbone.input_frames(c) for c in COUNTS)
    torch.manual_seed(1)
    clips = [torch.randn(2, 1, 3, length, 32, 32) for length in lengths]
    stock.train()
    ffn.train()
    expected = stock.loss(clips[-1], _samples(2))
    losses = ffn.loss(torch.cat(clips, dim=3), _samples(2, clip_lens=lengths))
    assert set(losses) == {'loss_cls', 'loss_distill'
                           } | {k
                                for k in expected if k.startswith('top')}
    for key, value in expected.items():
        torch.testing.assert_close(losses[key], value, atol=1e-5, rtol=1e-5)
    assert losses['loss_distill'] > 0
    # Gradients reach the norm copies of both counts.
    sum(losses.values()).backward()
    grads = {
        count: sum(p.grad.abs().sum()
                   for n, p in ffn.backbone.named_parameters()
                   if f'.branches.{count}.' in n and p.grad is not None)
        for count in COUNTS
    }
    assert all(value > 0 for value in grads.values()), grads


@pytest.mark.parametrize('frames', [2, 3, 4])
def test_predict_at_any_count_equals_recognizer3d(frames):
    """Two views of a SlowFast clip of ``frames`` slow frames (untrained 3
    uses branch 4: the same weights here, so the stock model at that clip
    length is the reference)."""
    stock, ffn = _pair(SLOWFAST)
    stock.eval()
    ffn.eval()
    inputs = torch.randn(2, 2, 3, frames * 4, 32, 32)
    with torch.no_grad():
        got = ffn.predict(inputs, _samples(2))
        expected = stock.predict(inputs, _samples(2))
    for a, b in zip(got, expected):
        torch.testing.assert_close(
            a.pred_score, b.pred_score, atol=1e-5, rtol=0)
    # mode='tensor' reads the count from the clip as well.
    with torch.no_grad():
        feats = ffn(inputs, mode='tensor')
        stock_feats = stock(inputs, mode='tensor')
    for a, b in zip(feats, stock_feats):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_the_branch_of_the_clip_count_runs():
    """With different norms per branch, a 2-frame clip gives branch 2's
    prediction and a 4-frame clip branch 4's."""
    _, ffn = _pair(SLOWFAST)
    with torch.no_grad():
        for name, param in ffn.backbone.named_parameters():
            if '.branches.2.' in name:
                param.mul_(0.5)
    ffn.eval()
    inputs = torch.randn(1, 1, 3, 8, 32, 32)
    with torch.no_grad():
        predicted = ffn.predict(inputs, _samples(1))[0].pred_score
        with ffn.backbone.frame_count(2):
            by_hand = ffn.cls_head(ffn.backbone(inputs[:, 0])).softmax(-1)[0]
        with ffn.backbone.frame_count(4):
            other = ffn.cls_head(ffn.backbone(torch.randn(1, 3, 16, 32,
                                                          32))).softmax(-1)[0]
    torch.testing.assert_close(predicted, by_hand, atol=1e-5, rtol=0)
    assert not torch.allclose(predicted, other, atol=1e-3)


def test_bad_layouts_are_named():
    _, ffn = _pair(SLOWFAST)
    with pytest.raises(
            ValueError,
            match=r'\(N, views, C, 24, H, W\): clips of \(8, 16\) frames for '
            r'the counts \(2, 4\), got \(1, 1, 3, 16, 32, 32\)'):
        ffn.loss(torch.randn(1, 1, 3, 16, 32, 32), _samples(1))
    with pytest.raises(ValueError, match='carry no clip_lens'):
        ffn.loss(torch.randn(1, 1, 3, 24, 32, 32), _samples(1))
    with pytest.raises(
            ValueError,
            match=r'Sampler clip_lens \(2, 4\) do not match the backbone '
            r'num_segments_list \(2, 4\) \(clips of \(8, 16\) frames\)'):
        ffn.loss(
            torch.randn(1, 1, 3, 24, 32, 32), _samples(1, clip_lens=(2, 4)))
    with pytest.raises(
            ValueError, match='clip of 10 frames is not a whole count'):
        ffn.predict(torch.randn(1, 1, 3, 10, 32, 32), _samples(1))


def test_backbone_kind_must_fit_the_recognizer():
    init_default_scope('mmaction')
    supported = sorted(f.ffn_type for f in FAMILIES.values()
                       if f.recognizer == 'Recognizer3D')
    assert {'MViT_FFN', 'UniFormerV2_FFN', 'X3D_FFN'} <= set(supported)
    with pytest.raises(
            TypeError,
            match=r'RecognizerFFN3D needs a frame-flexible backbone, got '
            r'ResNetTSM_FFN; supported: ' + re.escape(str(supported))):
        MODELS.build(
            dict(
                type='RecognizerFFN3D',
                backbone=dict(type='ResNetTSM_FFN', depth=18),
                cls_head=dict(type='I3DHead', in_channels=512, num_classes=2)))
    with pytest.raises(TypeError, match='RecognizerFFN needs'):
        MODELS.build(
            dict(
                type='RecognizerFFN',
                backbone=dict(type='X3D_FFN', gamma_w=0.25, gamma_b=0.5),
                cls_head=dict(type='TSMHead', in_channels=432, num_classes=2)))
