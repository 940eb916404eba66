"""ResNet3d_FFN, ResNet3dSlowOnly_FFN, ResNet3dSlowFast_FFN: equal to the
stock MMAction2 backbones at every trained count, initialised as they are."""
import re

import pytest
import torch
from mmaction.models import ResNet, ResNet3dSlowOnly
from mmaction.registry import MODELS
from shared_builders import randomise_norms
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.backbones import convert_pretrained_state_dict
from mmffn.models.layers import (RateSpecificBatchNorm, WeightAlteredConv,
                                 WeightAlteredConv3d)

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
SLOWFAST = dict(
    type='ResNet3dSlowFast',
    resample_rate=4,
    speed_ratio=4,
    channel_ratio=8,
    slow_pathway=dict(
        type='resnet3d',
        depth=18,
        base_channels=16,
        pretrained=None,
        lateral=True,
        lateral_norm=True,  # the lateral convs get norms too
        conv1_kernel=(1, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1,
        inflate=(0, 0, 1, 1)),
    fast_pathway=dict(
        type='resnet3d',
        depth=18,
        base_channels=2,
        pretrained=None,
        lateral=False,
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=1,
        pool1_stride_t=1))
CONFIGS = dict(slowonly=SLOWONLY, i3d=I3D, slowfast=SLOWFAST)


def _pair(stock_cfg, weight_alteration=True):
    """The stock backbone with randomised norms and its FFN version holding
    the same weights, adapters at zero."""
    torch.manual_seed(0)
    stock = MODELS.build(stock_cfg)
    stock.init_weights()
    randomise_norms(stock)
    ffn = MODELS.build(
        dict(
            stock_cfg,
            type=stock_cfg['type'] + '_FFN',
            num_segments_list=COUNTS,
            weight_alteration=weight_alteration))
    result = convert_pretrained_state_dict(stock.state_dict(),
                                           ffn.state_dict())
    assert not result.missing and not result.mismatched
    assert not result.unexpected
    ffn.load_state_dict(result.state_dict, strict=False)
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv):
            module.reset_alteration(0.0)
    return stock, ffn


def _outputs(out):
    return out if isinstance(out, tuple) else (out, )


@pytest.mark.parametrize('name', list(CONFIGS))
def test_equals_the_stock_backbone_at_every_count(name):
    """Outputs and gradients in train mode (batch statistics), running
    statistics of the active copy; the inactive copy is untouched."""
    stock, ffn = _pair(CONFIGS[name])
    for count in COUNTS:
        torch.manual_seed(count)
        x = torch.randn(2, 3, ffn.input_frames(count), 32, 32)
        inactive = [c for c in COUNTS if c != count][0]
        before = {
            k: v.clone()
            for k, v in ffn.state_dict().items() if f'.{inactive}.' in k
        }
        stock.train()
        ffn.train()
        expected = _outputs(stock(x))
        with ffn.frame_count(count) as branch:
            assert branch == count
            got = _outputs(ffn(x))
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        torch.manual_seed(1)
        probes = [torch.randn_like(o) for o in expected]
        stock.zero_grad()
        ffn.zero_grad()
        sum((o * p).sum() for o, p in zip(expected, probes)).backward()
        sum((o * p).sum() for o, p in zip(got, probes)).backward()
        stock_grads = dict(stock.named_parameters())
        for key, param in ffn.named_parameters():
            stock_key = key.replace(f'.branches.{count}', '')
            if stock_key in stock_grads and f'.{inactive}.' not in key:
                torch.testing.assert_close(
                    param.grad,
                    stock_grads[stock_key].grad,
                    atol=1e-4,
                    rtol=1e-4,
                    msg=key)
        stock_state = stock.state_dict()
        for key, value in ffn.state_dict().items():
            if 'running' in key and f'.branches.{count}.' in key:
                torch.testing.assert_close(
                    value,
                    stock_state[key.replace(f'.branches.{count}', '')],
                    atol=1e-6,
                    rtol=0)
        for key, value in before.items():
            assert torch.equal(ffn.state_dict()[key], value), key
        # Back to the same weights for the next count.
        stock, ffn = _pair(CONFIGS[name])


@pytest.mark.parametrize('name', list(CONFIGS))
def test_no_clip_depends_on_another_clip(name):
    _, ffn = _pair(CONFIGS[name])
    ffn.eval()
    x = torch.randn(3, 3, ffn.input_frames(2), 32, 32)
    with torch.no_grad(), ffn.frame_count(2):
        batch = _outputs(ffn(x))
        alone = _outputs(ffn(x[:1]))
    for a, b in zip(batch, alone):
        torch.testing.assert_close(a[:1], b, atol=1e-5, rtol=0)


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
        zero = _outputs(ffn(x))
        for module in adapters:
            module.reset_alteration(0.1)
        altered = _outputs(ffn(x))
    assert not torch.allclose(zero[0], altered[0], atol=1e-3)


@pytest.mark.parametrize('name', list(CONFIGS))
def test_init_weights_is_the_stock_init_in_every_copy(name):
    """Same seed, same weights: Kaiming convs, constant norms, zeroed last
    norm of each residual block (a per-count norm has no ``weight``
    attribute, so the stock zero-init would silently skip it)."""
    cfg = CONFIGS[name]
    ffn = MODELS.build(
        dict(cfg, type=cfg['type'] + '_FFN', num_segments_list=COUNTS))
    torch.manual_seed(3)
    ffn.init_weights()
    torch.manual_seed(3)
    stock = MODELS.build(cfg)
    stock.init_weights()
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        if '.alteration.' in key:
            assert value.abs().max() < 0.01  # near-zero adapters
            continue
        for count in COUNTS:
            key = key.replace(f'.branches.{count}', '')
        torch.testing.assert_close(value, stock_state[key], msg=key)
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
    stock = ResNet3dSlowOnly(**kwargs)
    stock.init_weights()
    inflated = stock.state_dict()['layer1.0.conv1.conv.weight']
    torch.testing.assert_close(  # the stock inflation did read the file
        inflated[:, :, 0],
        resnet2d.state_dict()['layer1.0.conv1.conv.weight'])
    ffn = MODELS.build(
        dict(type='ResNet3dSlowOnly_FFN', num_segments_list=COUNTS, **kwargs))
    ffn.init_weights()
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        if '.alteration.' in key:
            continue
        for count in COUNTS:
            key = key.replace(f'.branches.{count}', '')
        torch.testing.assert_close(value, stock_state[key], msg=key)


def test_3d_checkpoint_fills_every_copy(tmp_path):
    stock, _ = _pair(SLOWONLY)
    path = str(tmp_path / 'slowonly.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(
        dict(
            SLOWONLY,
            type='ResNet3dSlowOnly_FFN',
            num_segments_list=COUNTS,
            pretrained=path,
            pretrained2d=False))
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
