"""WeightAlteredConv2d/3d: the adapter folded into the conv is exact."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import initialize

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.layers import (AlterationWeight, WeightAlteredConv2d,
                                 WeightAlteredConv3d, weight_altered_conv)


def _unfolded(conv: WeightAlteredConv2d, x: torch.Tensor, count: int):
    """The adapter as FFN writes it: a depthwise 1x1 conv plus residual,
    applied to the activation, then the plain conv."""
    adapter = conv.alteration[str(count)].weight
    x = x + F.conv2d(x, adapter, groups=x.shape[1])
    return nn.Conv2d.forward(conv, x)


CONV_CONFIGS = [
    dict(kernel_size=1),
    dict(kernel_size=3, padding=1, stride=2, bias=False),
    dict(kernel_size=3, padding=2, dilation=2, groups=2),
    dict(kernel_size=3, padding=1, padding_mode='reflect'),
    dict(kernel_size=3, padding=1, padding_mode='circular', groups=4),
]


@pytest.mark.parametrize('cfg', CONV_CONFIGS)
def test_folded_forward_and_gradients_match_the_unfolded_adapter(cfg):
    torch.manual_seed(0)
    conv = WeightAlteredConv2d(8, 12, frame_counts=(4, 8), init_std=0.1, **cfg)
    x = torch.randn(2, 8, 7, 7)
    for count in (4, 8):
        conv.active = count
        folded = conv(x)
        reference = _unfolded(conv, x, count)
        assert torch.allclose(folded, reference, atol=1e-5)
        probe = torch.randn_like(folded)
        grads = torch.autograd.grad(
            (folded * probe).sum(), conv.parameters(), allow_unused=True)
        ref_grads = torch.autograd.grad(
            (reference * probe).sum(), conv.parameters(), allow_unused=True)
        for grad, ref_grad in zip(grads, ref_grads):
            if ref_grad is None:
                assert grad is None  # the other count's adapter
            else:
                assert torch.allclose(grad, ref_grad, atol=1e-4)
    # The adapter matters: the two counts give different outputs.
    conv.active = 4
    out4 = conv(x)
    conv.active = 8
    assert not torch.allclose(out4, conv(x), atol=1e-4)


def test_fold_gives_a_plain_conv_with_the_same_output():
    conv = WeightAlteredConv2d(
        6, 4, 3, padding=1, groups=2, frame_counts=(4, 8, 16), init_std=0.2)
    x = torch.randn(1, 6, 5, 5)
    for count in (4, 8, 16):
        plain = conv.to_static(count)
        assert type(plain) is nn.Conv2d
        conv.active = count
        assert torch.allclose(plain(x), conv(x), atol=1e-6)
        assert set(plain.state_dict()) == {'weight', 'bias'}


def test_from_conv_keeps_values_and_key_names():
    conv = nn.Conv2d(5, 7, 3, stride=2, padding=1, bias=False)
    conv.weight.requires_grad_(False)
    altered = WeightAlteredConv2d.from_conv(conv, (4, 16), init_std=0.0)
    assert torch.equal(altered.weight, conv.weight)
    assert not altered.weight.requires_grad
    assert set(altered.state_dict()) == {
        'weight', 'alteration.4.weight', 'alteration.16.weight'
    }
    assert altered.alteration['4'].weight.shape == (5, 1, 1, 1)
    x = torch.randn(2, 5, 6, 6)
    assert torch.equal(altered(x), conv(x))  # zero adapters: same function

    class OddConv(nn.Conv2d):

        def forward(self, x):
            return super().forward(x) * 2

    with pytest.raises(TypeError, match='OddConv'):
        WeightAlteredConv2d.from_conv(OddConv(2, 2, 1), (4, ))


def test_init_std_and_resistance_to_kaiming_init():
    torch.manual_seed(0)
    conv = WeightAlteredConv2d(256, 64, 1, frame_counts=(4, 8, 16))
    for adapter in conv.alteration.values():
        assert 0.8e-3 < adapter.weight.std().item() < 1.2e-3
    before = [a.weight.clone() for a in conv.alteration.values()]
    # MMEngine's Kaiming init of every Conv2d (ResNet's init_cfg) hits the
    # shared weight but must not reach the adapters.
    weight = conv.weight.clone()
    initialize(conv, dict(type='Kaiming', layer='Conv2d'))
    assert not torch.equal(conv.weight, weight)
    for adapter, old in zip(conv.alteration.values(), before):
        assert torch.equal(adapter.weight, old)
    conv.reset_alteration(0.05)
    assert 0.04 < conv.alteration['8'].weight.std().item() < 0.06


def test_only_the_active_adapter_gets_a_gradient():
    conv = WeightAlteredConv2d(4, 4, 1, frame_counts=(4, 8, 16), active=8)
    conv(torch.randn(2, 4, 3, 3)).pow(2).sum().backward()
    assert conv.alteration['8'].weight.grad.abs().sum() > 0
    assert conv.weight.grad.abs().sum() > 0
    assert conv.alteration['4'].weight.grad is None
    assert conv.alteration['16'].weight.grad is None


def test_bad_arguments():
    with pytest.raises(ValueError, match='-0.1'):
        WeightAlteredConv2d(4, 4, 1, init_std=-0.1)
    with pytest.raises(ValueError, match=r'\(8, 4\)'):
        WeightAlteredConv2d(4, 4, 1, frame_counts=(8, 4))
    conv = WeightAlteredConv2d(4, 4, 1, frame_counts=(4, 8))
    with pytest.raises(KeyError, match='16'):
        conv.active = 16


@pytest.mark.parametrize('spatial', [1, 9])  # input smaller / larger than W
def test_activation_and_weight_scaling_agree(spatial):
    """forward scales the smaller of input and weight; both are exact, with
    and without gradients."""
    torch.manual_seed(0)
    conv = WeightAlteredConv2d(
        8, 6, 3, padding=1, frame_counts=(4, 8), init_std=0.2)
    x = torch.randn(2, 8, spatial, spatial, requires_grad=True)
    assert (x.numel() < conv.weight.numel()) == (spatial == 1)
    out = conv(x)
    reference = _unfolded(conv, x, 8)
    assert torch.allclose(out, reference, atol=1e-5)
    grads = torch.autograd.grad(out.sum(), [x, conv.weight])
    ref_grads = torch.autograd.grad(reference.sum(), [x, conv.weight])
    for grad, ref_grad in zip(grads, ref_grads):
        assert torch.allclose(grad, ref_grad, atol=1e-4)
    with torch.no_grad():
        assert torch.allclose(conv(x), reference, atol=1e-5)


def test_no_grad_weight_follows_every_change():
    """Without gradients the folded weight is reused, but never stale."""
    torch.manual_seed(0)
    conv = WeightAlteredConv2d(4, 4, 1, frame_counts=(4, 8), init_std=0.2)
    x = torch.randn(1, 4, 5, 5)

    def check():
        with torch.no_grad():
            out = conv(x)
        assert torch.allclose(out, _unfolded(conv, x, conv.active), atol=1e-5)

    check()
    conv.active = 4  # another adapter
    check()
    with torch.no_grad():
        conv.alteration['4'].weight.mul_(3)  # in place, as an optimizer
    check()
    conv.load_state_dict({k: v * 2 for k, v in conv.state_dict().items()})
    check()
    conv(x).sum().backward()
    torch.optim.SGD(conv.parameters(), lr=1.0).step()
    check()
    conv.weight.data = conv.weight.data * 0.5  # new storage, same version
    check()
    conv.weight = nn.Parameter(conv.weight.detach() + 1)  # a new Parameter
    check()
    conv.alteration['4'].weight = nn.Parameter(  # a new adapter Parameter
        conv.alteration['4'].weight.detach() + 0.5)
    check()
    conv.alteration['4'] = AlterationWeight(4)  # a new adapter module
    check()
    conv.to(torch.float64)  # .to() swaps every storage
    x = x.double()
    check()
    with torch.no_grad():
        conv.weight.add_(1)  # in place after .to()
    check()


def test_no_grad_weight_is_cached_until_a_change():
    """The folded weight is computed once per change, not per call."""
    conv = WeightAlteredConv2d(4, 4, 1, frame_counts=(4, 8), init_std=0.2)
    x = torch.randn(1, 4, 3, 3)
    with torch.no_grad():
        conv(x)
        first = conv._inference_cache.folded
        conv(x)
        assert conv._inference_cache.folded is first
        conv.load_state_dict(conv.state_dict())  # copies in place
        conv(x)
        assert conv._inference_cache.folded is not first


# --- 3D: the same adapter as a depthwise 1x1x1 conv --------------------------
CONV3D_CONFIGS = [
    dict(kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False),  # ResNet3d
    dict(kernel_size=(1, 3, 3), padding=(0, 1, 1), stride=(1, 2, 2)),
    dict(kernel_size=3, padding=1, groups=8, bias=False),  # X3D depthwise
]


@pytest.mark.parametrize('cfg', CONV3D_CONFIGS)
def test_3d_folded_forward_gradients_and_fold_match_the_unfolded_adapter(cfg):
    torch.manual_seed(0)
    plain = nn.Conv3d(8, 16, **cfg)
    conv = weight_altered_conv(plain, (4, 8), init_std=0.1)
    assert type(conv) is WeightAlteredConv3d
    assert conv.alteration['4'].weight.shape == (8, 1, 1, 1, 1)
    x = torch.randn(2, 8, 4, 6, 6)
    for count in (4, 8):
        conv.active = count
        adapter = conv.alteration[str(count)].weight
        reference = plain(x + F.conv3d(x, adapter, groups=8))
        folded = conv(x)
        torch.testing.assert_close(folded, reference, atol=1e-5, rtol=0)
        # The activation path (small inputs) gives the same gradients.
        probe = torch.randn_like(folded)
        weight_grad = torch.autograd.grad((folded * probe).sum(), adapter)[0]
        scaled = x * (1 + adapter.view(1, -1, 1, 1, 1))
        ref_grad = torch.autograd.grad(
            (F.conv3d(scaled, conv.weight, conv.bias, conv.stride,
                      conv.padding, conv.dilation, conv.groups) * probe).sum(),
            adapter)[0]
        torch.testing.assert_close(weight_grad, ref_grad, atol=1e-4, rtol=0)
        static = conv.to_static(count)
        assert type(static) is nn.Conv3d
        with torch.no_grad():
            torch.testing.assert_close(static(x), folded, atol=1e-5, rtol=0)
    conv.active = 4
    out4 = conv(x)
    conv.active = 8
    assert not torch.allclose(out4, conv(x), atol=1e-4)


def test_weight_altered_conv_picks_the_kind_and_refuses_others():
    assert type(weight_altered_conv(nn.Conv2d(3, 4, 1),
                                    (4, ))) is WeightAlteredConv2d
    with pytest.raises(TypeError, match='Conv1d'):
        weight_altered_conv(nn.Conv1d(3, 4, 1), (4, ))
    with pytest.raises(
            TypeError,
            match='WeightAlteredConv2d wraps a plain '
            'Conv2d, got .*Conv3d'):
        WeightAlteredConv2d.from_conv(nn.Conv3d(3, 4, 1), (4, ))
