"""rate_specific_norms=False: the "without specialised normalisation"
ablation as a backbone option of every frame-flexible backbone."""
import pytest
import torch
from mmaction.registry import MODELS
from shared_builders import (TINY_X3D, assert_equal_to_stock_at_every_count,
                             stock_and_ffn)

import mmffn  # noqa: F401
from mmffn.apis import frame_flexible_model, stock_model
from mmffn.models.layers import RateSpecificLayer, WeightAlteredConv

TSM = dict(
    type='ResNetTSM',
    depth=18,
    pretrained=None,
    pretrained2d=False,
    num_segments=4,
    norm_eval=False)
CASES = {
    'resnet_tsm': (TSM, dict(TSM, type='ResNetTSM_FFN')),
    'x3d': (TINY_X3D['backbone'], dict(TINY_X3D['backbone'], type='X3D_FFN')),
}


def pair(name):
    stock, ffn = CASES[name]
    ffn = dict(ffn, num_segments_list=(2, 4), rate_specific_norms=False)
    ffn.pop('num_segments', None)
    ffn.pop('pretrained2d', None)
    return stock_and_ffn(stock, ffn)


@pytest.mark.parametrize('name', list(CASES))
def test_norms_are_shared_and_each_count_is_the_stock_model(name):
    stock, ffn = pair(name)
    layers = [m for m in ffn.modules() if isinstance(m, RateSpecificLayer)]
    # Only the adapters are per count.
    assert layers and all(isinstance(m, WeightAlteredConv) for m in layers)
    assert ffn.parameter_overhead()['rate_specific_norm'] == 0
    assert sorted(k for k in ffn.state_dict()
                  if '.alteration.' not in k) == sorted(stock.state_dict())
    if name == 'x3d':
        assert_equal_to_stock_at_every_count(stock, ffn, (2, 4))
        return
    # 2D: the stock TSM is built for 4 frames; train mode, the same clips.
    x = torch.randn(2 * 4, 3, 32, 32)
    stock.train()
    ffn.train()
    with ffn.frame_count(4):
        torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(ffn.conv1.bn.running_mean,
                               stock.conv1.bn.running_mean)


def test_every_count_updates_the_same_statistics():
    _, ffn = pair('resnet_tsm')
    ffn.train()
    bn = ffn.conv1.bn
    seen = []
    for count in (2, 4):
        with ffn.frame_count(count):
            ffn(torch.randn(2 * count, 3, 32, 32))
        seen.append(bn.running_mean.clone())
    assert not torch.equal(seen[0], seen[1])
    assert int(bn.num_batches_tracked) == 2


def test_the_option_is_a_backbone_key_the_stock_config_drops():
    model = frame_flexible_model(
        dict(
            type='Recognizer2D',
            backbone=TSM,
            cls_head=dict(type='TSMHead', num_classes=3, in_channels=512)),
        (2, 4),
        rate_specific_norms=False)
    assert model['backbone']['rate_specific_norms'] is False
    assert 'rate_specific_norms' not in stock_model(model, 4)['backbone']
    built = MODELS.build(model['backbone'])
    assert built.rate_specific_norms is False
