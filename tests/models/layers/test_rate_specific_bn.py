"""RateSpecificBatchNorm: private statistics per frame count."""
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmcv.cnn import ConvModule
from mmengine.model import convert_sync_batchnorm, revert_sync_batchnorm
from mmengine.registry import DefaultScope

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.layers import (RateSpecificBatchNorm,
                                 convert_to_rate_specific_norms)


def _randomised_bn(num_features=6, **kwargs):
    bn = nn.BatchNorm2d(num_features, **kwargs)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.normal_()
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
    return bn


def test_from_norm_copies_config_and_values_independently():
    bn = _randomised_bn(eps=1e-3, momentum=0.3)
    rsbn = RateSpecificBatchNorm.from_norm(bn, (4, 8, 16))
    assert rsbn.frame_counts == (4, 8, 16)
    assert rsbn.active == 16
    for count in (4, 8, 16):
        copy = rsbn.branch(count)
        assert type(copy) is nn.BatchNorm2d
        assert (copy.eps, copy.momentum) == (1e-3, 0.3)
        for name, tensor in bn.state_dict().items():
            assert torch.equal(copy.state_dict()[name], tensor), name
        assert copy.weight is not bn.weight
    # Copies do not share storage: editing one leaves the others alone.
    with torch.no_grad():
        rsbn.branch(4).weight.add_(1)
    assert torch.equal(rsbn.branch(8).weight, bn.weight)
    assert not torch.equal(rsbn.branch(4).weight, bn.weight)


def test_forward_uses_only_the_active_copy():
    rsbn = RateSpecificBatchNorm(6, (4, 8))
    for count in (4, 8):
        with torch.no_grad():
            rsbn.branch(count).running_mean.fill_(float(count))
    rsbn.eval()
    x = torch.randn(2, 6, 3, 3)
    for count in (4, 8):
        rsbn.active = count
        assert torch.allclose(rsbn(x), rsbn.branch(count)(x))
    rsbn.active = 4
    assert not torch.allclose(rsbn(x), rsbn.branch(8)(x))


def test_eval_forward_is_the_branch_call_exactly():
    """In eval mode the active branch's F.batch_norm runs without a module
    call: same numbers and gradients, the clear input error, and the module
    call (its hooks) wherever one is registered."""
    rsbn = RateSpecificBatchNorm.from_norm(_randomised_bn(), (4, 8))
    with torch.no_grad():
        rsbn.branch(4).weight.mul_(2)
    rsbn.eval()
    x = torch.randn(2, 6, 3, 3, requires_grad=True)
    for count in (4, 8):
        rsbn.active = count
        assert torch.equal(rsbn(x), rsbn.branch(count)(x))
    out = rsbn(x)  # norm_eval in training: gradients reach the copy
    out.sum().backward()
    assert rsbn.branch(8).weight.grad is not None
    assert rsbn.branch(4).weight.grad is None
    with pytest.raises(ValueError, match='expected 4D input'):
        rsbn(torch.randn(2, 6, 3))
    seen = []
    handle = rsbn.branch(8).register_forward_hook(
        lambda module, args, output: seen.append(module))
    rsbn(x)
    handle.remove()
    assert seen == [rsbn.branch(8)]
    no_stats = RateSpecificBatchNorm(6, (4, 8), track_running_stats=False)
    no_stats.eval()
    assert torch.equal(no_stats(x), no_stats.branch()(x))


def test_training_updates_only_the_active_statistics():
    rsbn = RateSpecificBatchNorm(6, (4, 8, 16), active=8).train()
    before = {c: rsbn.branch(c).running_mean.clone() for c in (4, 8, 16)}
    rsbn(torch.randn(4, 6, 3, 3) + 5)
    assert not torch.equal(rsbn.branch(8).running_mean, before[8])
    assert rsbn.branch(8).num_batches_tracked.item() == 1
    for count in (4, 16):
        assert torch.equal(rsbn.branch(count).running_mean, before[count])
        assert rsbn.branch(count).num_batches_tracked.item() == 0


def test_unknown_active_count_is_refused():
    rsbn = RateSpecificBatchNorm(6, (4, 8))
    with pytest.raises(KeyError, match=r'12 frames.*\(4, 8\)'):
        rsbn.active = 12
    with pytest.raises(TypeError, match='Linear'):
        RateSpecificBatchNorm.from_norm(nn.Linear(2, 2), (4, ))


def test_sync_batchnorm_conversion_reaches_every_copy():
    model = nn.Sequential(nn.Conv2d(3, 6, 1), _randomised_bn(6))
    convert_to_rate_specific_norms(model, (4, 8))
    value = model[1].branch(8).running_var.clone()
    model = convert_sync_batchnorm(model)
    for count in (4, 8):
        assert isinstance(model[1].branch(count), nn.SyncBatchNorm)
    model = revert_sync_batchnorm(model)
    assert isinstance(model[1], RateSpecificBatchNorm)
    assert not isinstance(model[1].branch(4), nn.SyncBatchNorm)
    assert torch.equal(model[1].branch(8).running_var, value)
    model.eval()
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 6, 4, 4)


def test_registry_and_conv_module_norm_cfg():
    rsbn = MODELS.build(
        dict(
            type='RateSpecificBatchNorm', num_features=5, frame_counts=(2, 3)))
    assert rsbn.frame_counts == (2, 3) and rsbn.num_features == 5
    # ConvModule looks norms up in the default scope, which MMAction2's
    # runner sets to 'mmaction'.
    with DefaultScope.overwrite_default_scope('mmaction'):
        conv = ConvModule(
            3,
            5,
            1,
            norm_cfg=dict(
                type='RateSpecificBatchNorm',
                frame_counts=(4, 8),
                momentum=0.2,
                requires_grad=False))
    assert conv.norm_name == 'bn'
    assert isinstance(conv.bn, RateSpecificBatchNorm)
    assert not conv.bn.branch(4).weight.requires_grad
    assert conv.bn.branch(8).momentum == 0.2
    assert 'bn.branches.8.weight' in conv.state_dict()
