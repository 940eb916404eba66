"""ResNet3d_FFN, ResNet3dSlowOnly_FFN, ResNet3dSlowFast_FFN: equal to the
stock MMAction2 backbones at every trained count, initialised as they are."""
import re

import pytest
import torch
from mmaction.models import ResNet
from mmaction.registry import MODELS
from shared_builders import (TINY_SLOWFAST,
                             assert_equal_to_stock_at_every_count,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, outputs,
                             randomise_norms, stock_and_ffn)
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv3d

COUNTS = (2, 4)
SLOWONLY = dict(
    type='ResNet3dSlowOnly', depth=18, base_channels=8, pretrained=None)
I3D = dict(
    type='ResNet3d',
    depth=18,
    base_channels=8,
    pretrained=None,
    pretrained2d=False,
    non_local=(0, 1, 0, 0),
    non_local_cfg=dict(mode='embedded_gaussian'))
_SLOWFAST = TINY_SLOWFAST['backbone']
SLOWFAST = dict(  # the lateral convs get norms too
    _SLOWFAST,
    slow_pathway=dict(_SLOWFAST['slow_pathway'], lateral_norm=True))
CONFIGS = dict(slowonly=SLOWONLY, i3d=I3D, slowfast=SLOWFAST)


def _ffn_cfg(stock_cfg, **kwargs):
    return dict(
        stock_cfg,
        type=stock_cfg['type'] + '_FFN',
        num_segments_list=COUNTS,
        **kwargs)


def _pair(stock_cfg):
    return stock_and_ffn(stock_cfg, _ffn_cfg(stock_cfg))


@pytest.mark.parametrize('name', list(CONFIGS))
def test_equals_the_stock_backbone_at_every_count(name):
    assert_equal_to_stock_at_every_count(*_pair(CONFIGS[name]), COUNTS)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_no_clip_depends_on_another_clip(name):
    assert_no_clip_depends_on_another(_pair(CONFIGS[name])[1], 2)


def test_structure_norms_adapters_and_keys():
    _, ffn = _pair(SLOWFAST)
    norms = [m for m in ffn.modules() if isinstance(m, RateSpecificBatchNorm)]
    plain = [
        m for m in ffn.modules()
        if isinstance(m, _BatchNorm) and not any(m is c for n in norms
                                                 for c in n.branches.values())
    ]
    assert norms and not plain  # every BatchNorm is per count
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv3d)]
    # One per block of both pathways: 2 blocks x 4 stages x 2 pathways.
    assert len(adapters) == 16
    keys = set(ffn.state_dict())
    assert 'slow_path.conv1_lateral.bn.branches.2.running_mean' in keys
    assert 'fast_path.layer1.0.conv1.conv.alteration.4.weight' in keys
    # Adapters change the function: the test above can fail.
    x = torch.randn(1, 3, ffn.input_frames(4), 32, 32)
    ffn.eval()
    with torch.no_grad(), ffn.frame_count(4):
        zero = outputs(ffn(x))
        for module in adapters:
            module.reset_alteration(0.1)
        altered = outputs(ffn(x))
    assert not torch.allclose(zero[0], altered[0], atol=1e-3)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_init_weights_is_the_stock_init_in_every_copy(name):
    """Kaiming convs, constant norms, zeroed last norm of each residual
    block (a per-count norm has no ``weight`` attribute, so the stock
    zero-init would silently skip it)."""
    _, ffn = assert_init_equals_stock_init(CONFIGS[name],
                                           _ffn_cfg(CONFIGS[name]))
    zeroed = [
        k for k, v in ffn.state_dict().items()
        if k.endswith('conv2.bn.branches.2.weight') and not v.any()
    ]
    assert zeroed  # zero_init_residual reached the copies


def test_2d_checkpoint_is_inflated_as_mmaction_does(tmp_path):
    """pretrained2d=True: the stock twin inflates the 2D ResNet, every copy
    gets the inflated weights."""
    resnet2d = ResNet(18, pretrained=None)
    resnet2d.init_weights()
    randomise_norms(resnet2d)
    # Inflation reads torchvision's names (conv1, bn1, layerX.Y.bnN, ...).
    renames = ((r'conv1\.conv\.', 'conv1.'), (r'^conv1\.bn\.', 'bn1.'),
               (r'(conv\d)\.conv\.', r'\1.'), (r'conv(\d)\.bn\.', r'bn\1.'),
               (r'downsample\.conv\.', 'downsample.0.'), (r'downsample\.bn\.',
                                                          'downsample.1.'))
    torchvision_state = {}
    for key, value in resnet2d.state_dict().items():
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        torchvision_state[key] = value
    path = str(tmp_path / 'r18_2d.pth')
    torch.save(dict(state_dict=torchvision_state), path)
    kwargs = dict(depth=18, pretrained=path, pretrained2d=True)
    stock, _ = assert_init_equals_stock_init(
        dict(type='ResNet3dSlowOnly', **kwargs),
        dict(type='ResNet3dSlowOnly_FFN', num_segments_list=COUNTS, **kwargs))
    inflated = stock.state_dict()['layer1.0.conv1.conv.weight']
    torch.testing.assert_close(  # the stock inflation did read the file
        inflated[:, :, 0],
        resnet2d.state_dict()['layer1.0.conv1.conv.weight'])


def test_3d_checkpoint_fills_every_copy(tmp_path):
    stock, _ = _pair(SLOWONLY)
    path = str(tmp_path / 'slowonly.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(SLOWONLY, pretrained=path, pretrained2d=False))
    ffn.init_weights()
    state = ffn.state_dict()
    for count in COUNTS:
        torch.testing.assert_close(
            state[f'layer4.1.conv2.bn.branches.{count}.running_var'],
            stock.state_dict()['layer4.1.conv2.bn.running_var'])


def test_input_of_another_length_is_refused_with_the_expected_shape():
    _, ffn = _pair(SLOWFAST)
    with ffn.frame_count(4), pytest.raises(
            ValueError,
            match=r'\(N, C, 16, H, W\) at 4 frames, got '
            r'\(1, 3, 8, 32, 32\)'):
        ffn(torch.randn(1, 3, 8, 32, 32))
    with pytest.raises(NotImplementedError, match='with_cp'):
        MODELS.build(dict(SLOWONLY, type='ResNet3dSlowOnly_FFN', with_cp=True))
