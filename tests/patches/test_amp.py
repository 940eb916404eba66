"""mmffn.patches.amp: bfloat16 scores in the heads' losses.

Upstream's ``loss_by_feat`` (reached through ``__wrapped__``) fails on
bfloat16 scores; the patched one gives what float32 scores give, and a
training step of FFN and of the stock TSM runs under bf16 autocast.
"""
import pytest
import torch
from mmaction.models.heads.base import BaseHead
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

from mmffn.patches import amp
from tests.shared_builders import (build_for_training, labelled_samples,
                                   tsm_r18_cfgs)

COUNTS = (4, 8, 16)


def tsm_head(**overrides):
    init_default_scope('mmaction')
    cfg = dict(
        type='TSMHead',
        num_classes=5,
        in_channels=8,
        num_segments=4,
        topk=(1, 3))
    cfg.update(overrides)
    return MODELS.build(cfg)


@pytest.fixture
def unpatched(restore_upstream):
    [(_, _, original)] = restore_upstream([(BaseHead, 'loss_by_feat')])
    return original


def test_version_guard(unpatched, mmaction2_guard):
    mmaction2_guard(amp.accept_bfloat16_scores_in_head_losses, BaseHead,
                    'loss_by_feat', unpatched)


@pytest.mark.parametrize('head_options', [
    dict(),
    dict(label_smooth_eps=0.1),
])
def test_bfloat16_scores_give_the_float32_losses(head_options):
    head = tsm_head(**head_options)
    scores = torch.tensor([[2.0, 1.0, 0.5, -1.0, 0.0],
                           [0.1, 0.2, 3.0, 0.0, -2.0],
                           [1.0, 4.0, 0.0, 0.5, 0.25]]).bfloat16()
    with pytest.raises(TypeError, match='BFloat16'):
        BaseHead.loss_by_feat.__wrapped__(head, scores,
                                          labelled_samples(3, COUNTS))
    got = head.loss_by_feat(scores, labelled_samples(3, COUNTS))
    expected = head.loss_by_feat(scores.float(), labelled_samples(3, COUNTS))
    assert set(got) == {'loss_cls', 'top1_acc', 'top3_acc'}
    for name, value in expected.items():
        assert got[name].dtype == value.dtype
        torch.testing.assert_close(got[name], value, rtol=0, atol=0)
    assert got['loss_cls'].dtype == torch.float32
    # labels 0, 1, 2: the top class is right for row 0 only; the label is
    # among the top 3 for rows 0 and 1 (row 2's label scores lowest)
    assert got['top1_acc'].item() == pytest.approx(1 / 3)
    assert got['top3_acc'].item() == pytest.approx(2 / 3)


def test_float16_and_float32_scores_pass_unchanged():
    head = tsm_head()
    seen = []
    original = BaseHead.loss_by_feat.__wrapped__

    def spy(self, scores, samples):
        seen.append(scores)
        return original(self, scores, samples)

    wrapper = amp._loss_by_feat_reading_bfloat16(spy)
    for dtype in (torch.float16, torch.float32):
        scores = torch.randn(3, 5).to(dtype)
        wrapper(head, scores, labelled_samples(3, COUNTS))
        assert seen[-1] is scores


@pytest.mark.parametrize('kind', ['ffn', 'stock'])
def test_training_under_bfloat16_autocast_matches_float32(kind):
    ffn_cfg, stock_cfg = tsm_r18_cfgs(COUNTS)
    cfg, frames = ((ffn_cfg, sum(COUNTS)) if kind == 'ffn' else
                   (stock_cfg, COUNTS[-1]))
    model = build_for_training(cfg)
    torch.manual_seed(1)
    inputs = torch.randn(2, frames, 3, 32, 32)
    reference = model.loss(inputs, labelled_samples(2, COUNTS))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(inputs, labelled_samples(2, COUNTS))
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    assert set(losses) == set(reference)
    # bfloat16 keeps 8 bits of mantissa: the losses agree to about 1 %.
    for name in ('loss_cls', 'loss_distill'):
        if name in reference:
            torch.testing.assert_close(
                losses[name].float(), reference[name], rtol=0.05, atol=0.02)
    assert all(
        p.grad is not None and torch.isfinite(p.grad).all()
        for p in model.parameters() if p.requires_grad)
