"""FFNOptimWrapperConstructor: TSM's parameter groups with FFN's modules."""
import pytest
import torch
from mmaction.engine.optimizers import TSMOptimWrapperConstructor
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401
from mmffn.engine import FFNOptimWrapperConstructor
from mmffn.models.layers import AlterationWeight

COUNTS = (4, 8, 16)
LR, WD = 0.01, 1e-4


def _model(recognizer, backbone):
    init_default_scope('mmaction')
    return MODELS.build(
        dict(
            type=recognizer,
            backbone=dict(depth=18, **backbone),
            cls_head=dict(
                type='TSMHead', num_classes=5, in_channels=512,
                num_segments=8)))


def _groups(constructor_cls, model, fc_lr5=True):
    constructor = constructor_cls(
        dict(
            type='OptimWrapper',
            optimizer=dict(type='SGD', lr=LR, momentum=0.9, weight_decay=WD)),
        dict(fc_lr5=fc_lr5))
    params = []
    constructor.add_params(params, model)
    return params


@pytest.mark.parametrize('fc_lr5', [True, False])
def test_groups_are_tsms_plus_every_ffn_parameter(fc_lr5):
    ffn = _model('RecognizerFFN',
                 dict(type='ResNetTSM_FFN', num_segments_list=COUNTS))
    stock = _model('Recognizer2D',
                   dict(type='ResNetTSM', num_segments=8, pretrained2d=False))
    ffn_groups = _groups(FFNOptimWrapperConstructor, ffn, fc_lr5)
    stock_groups = _groups(TSMOptimWrapperConstructor, stock, fc_lr5)
    # Same groups with the same lr and weight decay, in the same order.
    assert [(g['lr'], g['weight_decay']) for g in ffn_groups
            ] == [(g['lr'], g['weight_decay']) for g in stock_groups]
    assert [g['lr'] / LR for g in ffn_groups] == [1, 2, 1, 2, 1, 5, 10]
    assert [g['weight_decay'] for g in ffn_groups] == [WD, 0, WD, 0, 0, WD, 0]

    sizes = [len(g['params']) for g in ffn_groups]
    stock_sizes = [len(g['params']) for g in stock_groups]
    adapters = [
        m.weight for m in ffn.modules() if isinstance(m, AlterationWeight)
    ]
    assert len(adapters) == 8 * len(COUNTS)  # R18: 8 blocks
    # Adapters join the conv weights; each norm has a copy per count.
    assert sizes[2] == stock_sizes[2] + len(adapters)
    assert sizes[4] == stock_sizes[4] * len(COUNTS)
    for i in (0, 1, 3, 5, 6):
        assert sizes[i] == stock_sizes[i]
    ids = {id(p) for p in ffn_groups[2]['params']}
    assert all(id(a) in ids for a in adapters)
    fc = ffn.cls_head.fc_cls
    if fc_lr5:  # the classifier alone at x5 (weight) and x10 (bias)
        assert ffn_groups[5]['params'] == [fc.weight]
        assert ffn_groups[6]['params'] == [fc.bias]
    else:  # with the other weights and biases, as upstream
        assert ffn_groups[5]['params'] == ffn_groups[6]['params'] == []
        assert ffn_groups[2]['params'][-1] is fc.weight
        assert ffn_groups[3]['params'][-1] is fc.bias

    # Every trainable parameter exactly once.
    grouped = [id(p) for g in ffn_groups for p in g['params']]
    assert len(grouped) == len(set(grouped))
    assert set(grouped) == {id(p) for p in ffn.parameters()}


def test_frozen_norms_are_left_out_and_nothing_trainable_is_dropped():
    ffn = _model(
        'RecognizerFFN',
        dict(type='ResNetTSM_FFN', num_segments_list=COUNTS, partial_bn=True))
    ffn.train()
    groups = _groups(FFNOptimWrapperConstructor, ffn)
    first_norm = ffn.backbone.conv1.bn
    norm_ids = {id(p) for p in groups[4]['params']}
    assert norm_ids == {id(p) for p in first_norm.parameters()}
    grouped = {id(p) for g in groups for p in g['params']}
    assert grouped == {id(p) for p in ffn.parameters() if p.requires_grad}


def test_a_parameter_without_group_is_an_error():
    ffn = _model('RecognizerFFN',
                 dict(type='ResNetTSM_FFN', num_segments_list=COUNTS))
    ffn.cls_head.extra = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match='cls_head.extra'):
        _groups(FFNOptimWrapperConstructor, ffn)
