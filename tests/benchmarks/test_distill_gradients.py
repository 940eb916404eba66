"""benchmarks/distill_gradients.py: each loss term's gradient on the shared
weights."""
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))


def _terms(distill_weight):
    from bench_models import ffn_recognizer_config
    from distill_gradients import gradient_terms
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    cfg = ffn_recognizer_config(18, 5)
    cfg['distill_loss'] = dict(
        type='TemporalKLLoss', loss_weight=distill_weight)
    torch.manual_seed(0)
    model = MODELS.build(cfg).train()
    samples = []
    for label in (0, 3):
        sample = ActionDataSample().set_gt_label(label)
        sample.set_metainfo(dict(clip_lens=(4, 8, 16)))
        samples.append(sample)
    inputs = torch.randn(
        2, 28, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # the head's dropout
    return gradient_terms(model, dict(inputs=inputs, data_samples=samples))


def test_distill_weight_scales_only_its_own_gradient():
    one, two = _terms(1.0), _terms(2.0)
    assert one['|grad loss_distill|'] > 0  # the students use shared weights
    assert two['|grad loss_distill|'] == pytest.approx(
        2 * one['|grad loss_distill|'], rel=1e-4)
    assert two['|grad loss_cls|'] == pytest.approx(
        one['|grad loss_cls|'], rel=1e-5)
    assert two['cosine'] == pytest.approx(one['cosine'], abs=1e-4)
    assert -1 <= one['cosine'] <= 1
