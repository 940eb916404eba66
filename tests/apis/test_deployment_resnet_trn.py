"""A ResNet_FFN model (TSN's TSNHead, TRN's TRNHead_FFN) deployed at one
count is the stock Recognizer2D: no mmffn module left, same outputs."""
import numpy as np
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from shared_builders import randomise_norms

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import build_deployed, compare_outputs, frame_flexible_model
from mmffn.models.layers import WeightAlteredConv

pytestmark = pytest.mark.usefixtures('one_thread')

SIZE = 32
TOLERANCE = 1e-4
BACKBONE = dict(type='ResNet', depth=18, pretrained=None)
PREPROCESSOR = dict(type='ActionDataPreprocessor', format_shape='NCHW')
TSN = dict(
    type='Recognizer2D',
    backbone=BACKBONE,
    cls_head=dict(
        type='TSNHead',
        num_classes=3,
        in_channels=512,
        consensus=dict(type='AvgConsensus', dim=1),
        dropout_ratio=0.4,
        average_clips='prob'),
    data_preprocessor=PREPROCESSOR)


def _trn(relation_type):
    return dict(
        TSN,
        cls_head=dict(
            type='TRNHead',
            num_classes=3,
            in_channels=512,
            num_segments=8,
            relation_type=relation_type,
            hidden_dim=8,
            average_clips='prob'))


def _ffn_model(stock_cfg, counts):
    """The FFN model with non-trivial norms and adapters (so that folding
    is exercised)."""
    cfg = frame_flexible_model(stock_cfg, counts)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    randomise_norms(model)
    for module in model.modules():
        if isinstance(module, WeightAlteredConv):
            module.reset_alteration(0.05)
    return cfg, model.eval()


def _assert_stock(deployed, head):
    assert type(deployed).__name__ == 'Recognizer2D'
    assert type(deployed.backbone).__name__ == 'ResNet'
    assert type(deployed.cls_head).__name__ == head
    assert not [
        type(m).__name__
        for m in deployed.modules() if type(m).__module__.startswith('mmffn')
    ]


def _assert_close(outputs):
    assert outputs['max_abs_diff'] <= TOLERANCE * max(
        1.0, outputs['max_abs_output']), outputs


def test_tsn_deploys_at_any_count():
    cfg, model = _ffn_model(TSN, (4, 8, 16))
    for frames in (4, 6, 16):
        deployed = build_deployed(model, cfg, frames)
        _assert_stock(deployed, 'TSNHead')
        _assert_close(compare_outputs(model, deployed, frames, size=SIZE))
    # Another branch (16's, serving 16) is another function: the
    # comparison can fail.
    assert compare_outputs(
        model, build_deployed(model, cfg, 4), 16,
        size=SIZE)['max_abs_diff'] > 1e-3


@pytest.mark.parametrize('counts', [(4, 8, 16), (2, 3)])
def test_trn_deploys_at_trained_counts(counts):
    """TRN (one relation MLP, deterministic) through compare_outputs."""
    cfg, model = _ffn_model(_trn('TRN'), counts)
    for frames in counts:
        deployed = build_deployed(model, cfg, frames)
        _assert_stock(deployed, 'TRNHead')
        assert deployed.cls_head.num_segments == frames
        _assert_close(compare_outputs(model, deployed, frames, size=SIZE))
    with pytest.raises(ValueError, match='only a trained count'):
        build_deployed(
            model, cfg,
            counts[0] + 1 if counts[0] + 1 not in counts else counts[-1] + 1)


def test_trn_multiscale_deploys_at_trained_counts():
    """TRNMultiScale draws which relations of each scale it sums with
    numpy at every forward, in eval too, so the two models are compared on
    the same draws. (At 2 and 3 frames every relation is drawn, in some
    order: compare_outputs needs no seeding there.)"""
    cfg, model = _ffn_model(_trn('TRNMultiScale'), (4, 8, 16))
    generator = torch.Generator().manual_seed(0)
    for frames in (4, 8, 16):
        deployed = build_deployed(model, cfg, frames)
        _assert_stock(deployed, 'TRNHead')
        clip = torch.randn(1, frames, 3, SIZE, SIZE, generator=generator)
        with torch.no_grad():
            np.random.seed(frames)
            expected = model(clip, mode='tensor', stage='head')
            np.random.seed(frames)
            actual = deployed(clip, mode='tensor', stage='head')
        torch.testing.assert_close(actual, expected, atol=TOLERANCE, rtol=0)
    cfg, model = _ffn_model(_trn('TRNMultiScale'), (2, 3))
    for frames in (2, 3):
        _assert_close(
            compare_outputs(
                model, build_deployed(model, cfg, frames), frames, size=SIZE))
