"""ResNetTSM_FFN pretrained loading: torchvision, MMAction2 and FFN files."""
import re

import pytest
import torch
import torch.nn as nn
from mmaction.models import ResNet, ResNetTSM

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.backbones import ResNetTSM_FFN, convert_pretrained_state_dict
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv2d

COUNTS = (4, 8, 16)


def _frames(num_videos, num_frames):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(num_videos * num_frames, 3, 32, 32, generator=generator)


def _torchvision_names(mmaction_resnet_state):
    """Rename an MMAction2 ResNet state dict the way torchvision names it."""
    renames = [
        (r'^conv1\.conv\.', 'conv1.'),
        (r'^conv1\.bn\.', 'bn1.'),
        (r'\.downsample\.conv\.', '.downsample.0.'),
        (r'\.downsample\.bn\.', '.downsample.1.'),
        (r'\.conv(\d)\.conv\.', r'.conv\1.'),
        (r'\.conv(\d)\.bn\.', r'.bn\1.'),
    ]
    state = {}
    for key, value in mmaction_resnet_state.items():
        for pattern, replacement in renames:
            key = re.sub(pattern, replacement, key)
        state[key] = value.clone()
    return state


def _random_resnet_state(depth, randomise_norms):
    torch.manual_seed(1)
    resnet = ResNet(depth)
    resnet.init_weights()
    return randomise_norms(resnet, seed=1).state_dict()


def _zero_adapters(ffn):
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.0)


def _adapter_std(ffn):
    return torch.cat([
        a.weight.flatten() for m in ffn.modules()
        if isinstance(m, WeightAlteredConv2d) for a in m.alteration.values()
    ]).std().item()


def _assert_every_copy_equals(ffn, plain_state):
    """Each rate-specific copy holds the plain BN of the same name."""
    checked = 0
    for key, value in ffn.state_dict().items():
        plain_key = re.sub(r'\.branches\.\d+\.', '.', key)
        plain_key = '.'.join(
            p for p in plain_key.split('.') if p not in ('net', 'block'))
        if '.alteration.' in key:
            continue
        assert torch.equal(value, plain_state[plain_key]), key
        checked += 1
    return checked


def test_torchvision_r50_fills_every_copy_like_mmaction_loads_it(
        tmp_path, randomise_norms):
    source = _random_resnet_state(50, randomise_norms)
    torchvision_state = _torchvision_names(source)
    torchvision_state['fc.weight'] = torch.randn(1000, 2048)
    torchvision_state['fc.bias'] = torch.randn(1000)
    # torchvision's resnet50 layout: 53 convs, 53 BNs x 5 tensors, fc.
    assert len(torchvision_state) == 53 + 53 * 5 + 2
    assert {
        'conv1.weight', 'bn1.running_mean', 'layer1.0.conv1.weight',
        'layer1.0.bn1.weight', 'layer1.0.downsample.0.weight',
        'layer1.0.downsample.1.running_var', 'layer4.2.bn3.bias'
    } <= set(torchvision_state)
    path = str(tmp_path / 'resnet50_torchvision.pth')
    torch.save(torchvision_state, path)

    ffn = ResNetTSM_FFN(50, num_segments_list=COUNTS, pretrained=path)
    torch.manual_seed(0)
    ffn.init_weights()
    # Every conv and every BN copy (4, 8, 16) holds the pretrained values.
    checked = _assert_every_copy_equals(ffn, source)
    assert checked == 53 + 53 * 5 * len(COUNTS)
    # Adapters keep their init.
    assert 0.5e-3 < _adapter_std(ffn) < 2e-3

    # MMAction2's own torchvision loader reads the same file; with zero
    # adapters both give the same features.
    reference = ResNetTSM(50, num_segments=8, pretrained=path)
    reference.init_weights()
    reference.eval()
    _zero_adapters(ffn)
    ffn.eval()
    x = _frames(1, 8)
    with torch.no_grad(), ffn.frame_count(8):
        torch.testing.assert_close(ffn(x), reference(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize('source_kwargs', [
    dict(shift_place='blockres'),
    dict(shift_place='block'),
    dict(temporal_pool=True, num_segments=8),
])
def test_mmaction_tsm_checkpoint(tmp_path, randomise_norms, source_kwargs):
    torch.manual_seed(2)
    tsm = ResNetTSM(18, pretrained2d=False, **source_kwargs)
    tsm.init_weights()
    randomise_norms(tsm, seed=2)
    checkpoint = dict(
        meta=dict(epoch=50),
        state_dict={
            **{f'backbone.{k}': v
               for k, v in tsm.state_dict().items()},
            'cls_head.fc_cls.weight': torch.randn(174, 512),
            'cls_head.fc_cls.bias': torch.randn(174),
        })
    path = str(tmp_path / 'tsm_r18.pth')
    torch.save(checkpoint, path)
    ffn = ResNetTSM_FFN(18, pretrained=path)
    ffn.init_weights()
    plain = ResNet(18).state_dict().keys()
    plain_state = {k: None for k in plain}
    for key, value in tsm.state_dict().items():
        plain_key = '.'.join(
            p for p in key.split('.') if p not in ('net', 'block'))
        plain_state[plain_key] = value
    _assert_every_copy_equals(ffn, plain_state)
    assert 0.5e-3 < _adapter_std(ffn) < 2e-3
    if source_kwargs.get('shift_place') == 'blockres':
        # Same structure: same features with zero adapters.
        _zero_adapters(ffn)
        ffn.eval()
        tsm.eval()
        x = _frames(2, 8)
        with torch.no_grad(), ffn.frame_count(8):
            torch.testing.assert_close(ffn(x), tsm(x), atol=1e-5, rtol=0)


def test_plain_backbone_state_dict_and_report(tmp_path, randomise_norms):
    source = _random_resnet_state(18, randomise_norms)
    source['layer9.0.extra.weight'] = torch.zeros(1)
    path = str(tmp_path / 'resnet18_mmaction.pth')
    torch.save(source, path)
    ffn = ResNetTSM_FFN(18, pretrained=path)
    ffn.init_weights()
    del source['layer9.0.extra.weight']
    _assert_every_copy_equals(ffn, source)
    report = ffn.load_pretrained(path)
    assert report.unexpected == ['layer9.0.extra.weight']
    assert not report.missing and not report.mismatched
    assert all('.alteration.' in k for k in report.optional_missing)
    assert len(report.optional_missing) == 8 * len(COUNTS)


def test_ffn_checkpoint_round_trip_keeps_each_branch(tmp_path):
    torch.manual_seed(3)
    trained = ResNetTSM_FFN(18)
    trained.init_weights()
    with torch.no_grad():
        for name, tensor in trained.state_dict().items():
            if tensor.is_floating_point():
                tensor.normal_()  # every branch different
    path = str(tmp_path / 'ffn_r18.pth')
    torch.save(
        dict(state_dict={
            f'backbone.{k}': v
            for k, v in trained.state_dict().items()
        }), path)
    loaded = ResNetTSM_FFN(18, pretrained=path)
    loaded.init_weights()
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_conversion_maps_torchvision_names_into_branches():
    ffn = ResNetTSM_FFN(18, num_segments_list=(4, 8))
    source = {
        'bn1.running_mean': torch.arange(64.),
        'layer2.0.downsample.1.weight': torch.full((128, ), 3.),
        'layer2.0.conv1.weight': torch.ones(128, 64, 3, 3),
        'fc.weight': torch.zeros(1000, 512),
    }
    result = convert_pretrained_state_dict(source, ffn.state_dict())
    assert set(result.state_dict) == {
        'conv1.bn.branches.4.running_mean', 'conv1.bn.branches.8.running_mean',
        'layer2.0.downsample.bn.branches.4.weight',
        'layer2.0.downsample.bn.branches.8.weight',
        'layer2.0.conv1.conv.net.weight'
    }
    assert result.ignored == ['fc.weight']
    assert result.unexpected == []
    assert 'layer1.0.conv1.conv.net.weight' in result.missing
    assert 'layer1.0.conv1.conv.net.alteration.4.weight' in (
        result.optional_missing)


def test_foreign_files_raise_clear_errors(tmp_path, randomise_norms):
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    mlp_path = str(tmp_path / 'mlp.pth')
    torch.save(mlp.state_dict(), mlp_path)
    with pytest.raises(ValueError, match=r'mlp\.pth.*not a ResNet'):
        ResNetTSM_FFN(18, pretrained=mlp_path).init_weights()

    # Another depth: keys exist but shapes and blocks differ.
    r18_path = str(tmp_path / 'resnet18.pth')
    source = _random_resnet_state(18, randomise_norms)
    torch.save(source, r18_path)
    with pytest.raises(
            ValueError,
            match=r'resnet18\.pth does not fit .*depth=34.*'
            r'missing'):
        ResNetTSM_FFN(34, pretrained=r18_path).init_weights()

    # Backbone weights missing from an otherwise fitting file.
    del source['layer3.1.conv2.conv.weight']
    partial_path = str(tmp_path / 'partial.pth')
    torch.save(source, partial_path)
    with pytest.raises(
            ValueError,
            match=r'partial\.pth.*1 backbone weights '
            r'missing.*layer3\.1\.conv2\.conv\.weight'):
        ResNetTSM_FFN(18, pretrained=partial_path).init_weights()

    tensor_path = str(tmp_path / 'tensor.pth')
    torch.save(torch.zeros(3), tensor_path)
    with pytest.raises(ValueError, match=r'tensor\.pth.*state dict'):
        ResNetTSM_FFN(18, pretrained=tensor_path).init_weights()


def test_rate_specific_norms_everywhere_after_loading(tmp_path,
                                                      randomise_norms):
    path = str(tmp_path / 'r18.pth')
    torch.save(_random_resnet_state(18, randomise_norms), path)
    ffn = ResNetTSM_FFN(18, pretrained=path)
    ffn.init_weights()
    norms = [m for m in ffn.modules() if isinstance(m, RateSpecificBatchNorm)]
    assert len(norms) == 20
    assert not any(
        isinstance(m, nn.BatchNorm2d) and not any(
            m is bn for n in norms for bn in n.branches.values())
        for m in ffn.modules())
