"""convert_to_rate_specific_norms: every kind of norm gets per-count copies."""
import pytest
import torch
import torch.nn as nn
from mmaction.models import ResNetTSM

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.backbones import ResNetTSM_FFN, convert_pretrained_state_dict
from mmffn.models.layers import (RateSpecificBatchNorm, RateSpecificModule,
                                 WeightAlteredConv2d,
                                 convert_to_rate_specific_norms,
                                 is_rate_specific_norm)


def _randomised(norm, seed=0):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        norm.weight.copy_(torch.rand(norm.weight.shape, generator=generator))
        if getattr(norm, 'bias', None) is not None:
            norm.bias.copy_(torch.randn(norm.bias.shape, generator=generator))
        if getattr(norm, 'running_mean', None) is not None:
            norm.running_mean.normal_(generator=generator)
    return norm


def test_convert_replaces_every_batchnorm_and_keeps_keys_readable():
    model = nn.Sequential(
        nn.Conv2d(3, 6, 1), _randomised(nn.BatchNorm2d(6)),
        nn.Sequential(nn.Conv3d(6, 6, 1), nn.BatchNorm3d(6)), nn.ReLU())
    model[1].eval()  # train/eval mode is copied too
    bn_state = {k: v.clone() for k, v in model[1].state_dict().items()}
    out = convert_to_rate_specific_norms(model, (2, 4))
    assert out is model
    assert isinstance(model[1], RateSpecificBatchNorm)
    assert isinstance(model[2][1], RateSpecificBatchNorm)
    assert type(model[2][1].branch(2)) is nn.BatchNorm3d
    assert not model[1].branch(2).training
    keys = set(model.state_dict())
    assert {
        '1.branches.2.running_mean', '1.branches.4.weight',
        '2.1.branches.4.running_var'
    } <= keys
    assert '1.running_mean' not in keys
    for count in (2, 4):
        for name, tensor in bn_state.items():
            assert torch.equal(
                model.state_dict()[f'1.branches.{count}.{name}'], tensor)
    # Converting twice is harmless (no nested copies).
    convert_to_rate_specific_norms(model, (2, 4))
    assert isinstance(model[1].branch(2), nn.BatchNorm2d)
    # A bare BatchNorm comes back converted.
    assert isinstance(
        convert_to_rate_specific_norms(nn.BatchNorm2d(3), (1, )),
        RateSpecificBatchNorm)


@pytest.mark.parametrize('norm,shape', [
    (nn.LayerNorm(6), (2, 5, 6)),
    (nn.GroupNorm(3, 6), (2, 6, 4, 4)),
    (nn.InstanceNorm2d(6, affine=True), (2, 6, 4, 4)),
    (nn.RMSNorm(6), (2, 5, 6)),
])
def test_affine_only_norms_get_private_affine_parameters(norm, shape):
    """Each count has its own affine parameters, equal to the original at
    conversion; only the active copy runs and learns."""
    model = nn.Sequential(nn.Identity(), _randomised(norm))
    reference = {k: v.clone() for k, v in norm.state_dict().items()}
    x = torch.randn(shape)
    expected = norm(x).detach()
    convert_to_rate_specific_norms(model, (4, 8), active=4)
    per_count = model[1]
    assert isinstance(per_count, RateSpecificModule)
    assert is_rate_specific_norm(per_count)
    assert type(per_count.branch(8)) is type(norm)
    for count in (4, 8):
        for key, tensor in reference.items():
            assert torch.equal(model.state_dict()[f'1.branches.{count}.{key}'],
                               tensor)
    torch.testing.assert_close(model(x), expected, atol=0, rtol=0)

    model(x).square().sum().backward()
    assert per_count.branch(4).weight.grad is not None
    assert per_count.branch(8).weight.grad is None
    with torch.no_grad():
        per_count.branch(8).weight.mul_(2)
    # The inactive copy changed, the output did not.
    torch.testing.assert_close(model(x), expected, atol=0, rtol=0)
    per_count.active = 8
    assert not torch.allclose(model(x), expected)


def test_norms_without_affine_parameters_are_not_counted_as_overhead():
    plain = nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 6))
    convert_to_rate_specific_norms(plain, (4, 8))
    assert is_rate_specific_norm(plain[0])
    assert not is_rate_specific_norm(plain[1])


def test_group_norm_resnet_tsm_equals_stock_at_every_count():
    """A ResNet-TSM built with GroupNorm (ResNet's ``norm_cfg``): zero
    adapters and equal copies give MMAction2's ResNetTSM at every count;
    the extra parameters are the GroupNorm copies and the adapters."""
    norm_cfg = dict(type='GN', num_groups=8, requires_grad=True)
    counts = (4, 8)
    torch.manual_seed(0)
    stock = ResNetTSM(
        18, num_segments=8, pretrained2d=False, norm_cfg=norm_cfg)
    stock.init_weights()
    stock.eval()
    for module in stock.modules():
        if isinstance(module, nn.GroupNorm):
            _randomised(module, seed=module.num_channels)
    ffn = ResNetTSM_FFN(
        18,
        num_segments_list=counts,
        norm_cfg=norm_cfg,
        weight_alteration=True)
    ffn.eval()
    result = convert_pretrained_state_dict(stock.state_dict(),
                                           ffn.state_dict())
    assert not result.missing and not result.mismatched
    ffn.load_state_dict(result.state_dict, strict=False)
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.0)
    group_norms = [m for m in ffn.modules() if is_rate_specific_norm(m)]
    assert group_norms and all(
        isinstance(m.branch(), nn.GroupNorm) for m in group_norms)
    for count in counts:
        stock.num_segments = count
        for module in stock.modules():
            if hasattr(module, 'num_segments'):
                module.num_segments = count
        x = torch.randn(2 * count, 3, 32, 32)
        with torch.no_grad(), ffn.frame_count(count):
            torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)
    gn_params = sum(p.numel() for m in group_norms
                    for p in m.branch().parameters())
    overhead = ffn.parameter_overhead()
    assert overhead['rate_specific_norm'] == gn_params * (len(counts) - 1)
