"""Peer of MMAction2's ``tests/models/backbones/test_resnet_tsm.py``.

Every upstream ResNetTSM case is run again against ``ResNetTSM_FFN`` (depth
50, ``pretrained=None``, no download), with the upstream expected output
shapes. Where upstream only checks a shape, these tests also compare the FFN
backbone, adapters at zero, with a stock ``ResNetTSM`` of the same options and
the same weights, and check that ``partial_bn``, ``norm_eval`` and
``frozen_stages`` leave the same modules training/trainable as stock.
"""
import copy
import re

import pytest
import torch
import torch.nn as nn
from mmaction.models import ResNetTSM
from mmaction.models.backbones.resnet import Bottleneck
from mmaction.models.backbones.resnet_tsm import NL3DWrapper, TemporalShift
from mmaction.utils import register_all_modules
from shared_builders import randomise_norms
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (registers mmffn modules, applies compat fixes)
from mmffn.models.backbones import ResNetTSM_FFN, convert_pretrained_state_dict
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv2d

register_all_modules()

# The upstream non-local setting (same in the non-local and full cases).
NON_LOCAL = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))
NON_LOCAL_CFG = dict(
    sub_sample=True,
    use_scale=False,
    norm_cfg=dict(type='BN3d', requires_grad=True),
    mode='embedded_gaussian')


def demo_frames(num_frames, size, seed=0):
    """Random frames in [0, 1), like upstream's backbone demo inputs."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(num_frames, 3, size, size, generator=gen)


def build_ffn(counts=(4, 8), **kwargs):
    kwargs.setdefault('pretrained', None)
    return ResNetTSM_FFN(50, num_segments_list=counts, **kwargs)


def build_stock(**kwargs):
    kwargs.setdefault('pretrained', None)
    kwargs.setdefault('pretrained2d', False)
    return ResNetTSM(50, **kwargs)


def stock_and_ffn(counts=(4, 8), **options):
    """A stock ResNetTSM with scrambled norms and an FFN backbone of the
    same options holding the same weights, adapters at zero; both in eval."""
    torch.manual_seed(0)
    stock = build_stock(**options)
    stock.init_weights()
    randomise_norms(stock)
    ffn = build_ffn(counts, **options)
    result = convert_pretrained_state_dict(stock.state_dict(),
                                           ffn.state_dict())
    assert not result.missing and not result.mismatched
    assert not result.unexpected
    ffn.load_state_dict(result.state_dict, strict=False)
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.0)
    stock.eval()  # stock ResNet.train returns None: no chaining
    ffn.eval()
    return stock, ffn


def assert_same_output(stock, ffn, frames):
    with torch.no_grad():
        expected = stock(frames)
        out = ffn(frames)
    assert out.shape == expected.shape
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=1e-4)
    return out


# --- upstream: test_init  ----------------------------------------------------
def test_unknown_shift_place_is_not_implemented():
    with pytest.raises(NotImplementedError):
        backbone = build_ffn(shift_place='Block')
        backbone.init_weights()


# --- upstream: test_init_from_scratch ---------------------------------------
def test_init_from_scratch():
    backbone = build_ffn(pretrained2d=False)
    backbone.init_weights()
    norms = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
    # R50 has 53 BatchNorms, one copy per trained count.
    assert len(norms) == 53 * 2
    for norm in norms:
        assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)
    stem = backbone.conv1.conv.weight
    assert stem.abs().sum() > 0 and torch.isfinite(stem).all()


# --- upstream: test_resnet_tsm_temporal_shift_blockres ----------------------
def test_temporal_shift_blockres():
    stock, backbone = stock_and_ffn()
    for layer_name in backbone.res_layers:
        for block in getattr(backbone, layer_name).children():
            shift = block.conv1.conv
            assert isinstance(shift, TemporalShift)
            assert shift.num_segments == backbone.num_segments == 8
            assert shift.shift_div == backbone.shift_div == 8
            assert isinstance(shift.net, nn.Conv2d)
    out = assert_same_output(stock, backbone, demo_frames(8, 64))
    assert out.shape == torch.Size([8, 2048, 2, 2])


# --- upstream: test_resnet_tsm_temporal_shift_block -------------------------
def test_temporal_shift_block():
    stock, backbone = stock_and_ffn(shift_place='block')
    for layer_name in backbone.res_layers:
        for block in getattr(backbone, layer_name).children():
            assert isinstance(block, TemporalShift)
            assert block.num_segments == backbone.num_segments == 8
            assert block.shift_div == backbone.shift_div
            assert isinstance(block.net, Bottleneck)
    # Upstream checks no output here; the FFN one must equal stock.
    out = assert_same_output(stock, backbone, demo_frames(8, 32))
    assert out.shape == torch.Size([8, 2048, 1, 1])


# --- upstream: test_resnet_tsm_temporal_pool --------------------------------
def test_temporal_pool():
    stock, backbone = stock_and_ffn(temporal_pool=True)
    for layer_name in backbone.res_layers:
        blocks = list(getattr(backbone, layer_name).children())
        if layer_name == 'layer2':
            assert len(blocks) == 2
            assert isinstance(blocks[1], nn.MaxPool3d)
            blocks = copy.deepcopy(blocks[0])
        for block in blocks:
            shift = block.conv1.conv
            assert isinstance(shift, TemporalShift)
            expected = backbone.num_segments
            if layer_name != 'layer1':
                expected //= 2
            assert shift.num_segments == expected
            assert shift.shift_div == backbone.shift_div
            assert isinstance(shift.net, nn.Conv2d)
    out = assert_same_output(stock, backbone, demo_frames(8, 64))
    assert out.shape == torch.Size([4, 2048, 2, 2])


# --- upstream: test_resnet_tsm_non_local ------------------------------------
def test_non_local():
    stock, backbone = stock_and_ffn(
        non_local=NON_LOCAL, non_local_cfg=NON_LOCAL_CFG)
    for layer_name in ('layer2', 'layer3'):
        layer = getattr(backbone, layer_name)
        for index, block in enumerate(layer):
            assert isinstance(block, NL3DWrapper) == (index % 2 == 0)
    out = assert_same_output(stock, backbone, demo_frames(8, 64))
    assert out.shape == torch.Size([8, 2048, 2, 2])


# --- upstream: test_resnet_tsm_full -----------------------------------------
def _pool_aware_stock_non_local(stock):
    """Stock ResNetTSM gives its non-local wrappers the full num_segments
    even behind the temporal pool, so with two clips in a batch they mix the
    clips' pooled frames. ResNetTSM_FFN gives them the pooled count (no clip
    sees its neighbour); make the stock reference do the same."""
    for name, module in stock.named_modules():
        if isinstance(module, NL3DWrapper) and not name.startswith('layer1.'):
            module.num_segments = stock.num_segments // 2


def test_full_non_local_and_temporal_pool():
    stock, backbone = stock_and_ffn(
        non_local=NON_LOCAL, non_local_cfg=NON_LOCAL_CFG, temporal_pool=True)
    wrappers = [m for m in backbone.modules() if isinstance(m, NL3DWrapper)]
    assert len(wrappers) == 5
    assert {m.num_segments for m in wrappers} == {4}
    _pool_aware_stock_non_local(stock)
    # 16 frames of 32 px: two clips of the configured 8 frames.
    out = assert_same_output(stock, backbone, demo_frames(16, 32))
    assert out.shape == torch.Size([8, 2048, 1, 1])


def test_full_at_the_other_trained_count():
    """FFN-only counterpart of the full case: at T=4 the FFN backbone must
    equal a stock ResNetTSM built with num_segments=4."""
    stock, backbone = stock_and_ffn(
        non_local=NON_LOCAL,
        non_local_cfg=NON_LOCAL_CFG,
        temporal_pool=True,
        num_segments=4)
    assert backbone.num_segments == 4
    _pool_aware_stock_non_local(stock)
    out = assert_same_output(stock, backbone, demo_frames(16, 32))
    assert out.shape == torch.Size([8, 2048, 1, 1])


# --- training-mode options: same frozen/training modules as stock -----------
_BRANCH = re.compile(r'\.branches\.\d+$')


def _norm_states(model):
    """{stock-style norm name: [(training, weight.requires_grad), ...]}"""
    states = {}
    for name, module in model.named_modules():
        if isinstance(module, _BatchNorm):
            key = _BRANCH.sub('', name)
            states.setdefault(key, []).append(
                (module.training, module.weight.requires_grad,
                 module.bias.requires_grad))
    return states


def assert_train_mode_like_stock(**options):
    stock = build_stock(**options)
    backbone = build_ffn(**options)
    stock.train()
    assert backbone.train() is backbone
    stock_norms = _norm_states(stock)
    ffn_norms = _norm_states(backbone)
    assert set(ffn_norms) == set(stock_norms)
    differing = {
        name: (stock_norms[name][0], ffn_norms[name])
        for name in stock_norms
        if set(ffn_norms[name]) != {stock_norms[name][0]}
    }
    assert not differing, (
        f'{len(differing)} norms differ from stock (stock state vs FFN '
        f'copies), e.g. {dict(list(differing.items())[:3])}')
    stock_convs = {
        name: param.requires_grad
        for name, param in stock.named_parameters()
        if name.rsplit('.', 1)[0] not in stock_norms
    }
    for name, param in backbone.named_parameters():
        if '.alteration.' in name:
            conv = name.split('.alteration.')[0] + '.weight'
            assert param.requires_grad == stock_convs[conv], name
        elif name.rsplit('.', 1)[0].split('.branches.')[0] not in ffn_norms:
            assert param.requires_grad == stock_convs[name], name
    return stock, backbone


def test_partial_bn_like_stock():
    _, backbone = assert_train_mode_like_stock(partial_bn=True)
    first = backbone.conv1.bn
    assert isinstance(first, RateSpecificBatchNorm)
    for bn in first.branches.values():
        assert bn.training and bn.weight.requires_grad
    assert not backbone.layer4[2].conv3.bn.branch(8).training


def test_partial_bn_with_non_local_like_stock():
    """Stock ResNet freezes only BatchNorm2d: the BatchNorm3d of non-local
    blocks keep training."""
    _, backbone = assert_train_mode_like_stock(
        partial_bn=True, non_local=NON_LOCAL, non_local_cfg=NON_LOCAL_CFG)
    nl_norms = [
        m for name, m in backbone.named_modules()
        if 'non_local_block' in name and isinstance(m, nn.BatchNorm3d)
    ]
    assert nl_norms
    assert all(m.training and m.weight.requires_grad for m in nl_norms)


def test_norm_eval_like_stock():
    stock, backbone = assert_train_mode_like_stock(
        norm_eval=True, non_local=NON_LOCAL, non_local_cfg=NON_LOCAL_CFG)
    assert not any(m.training
                   for m in backbone.modules() if isinstance(m, _BatchNorm))
    # Running statistics stay put during a training-mode forward.
    before = backbone.layer1[0].conv1.bn.branch(8).running_mean.clone()
    backbone(demo_frames(8, 32))
    assert torch.equal(backbone.layer1[0].conv1.bn.branch(8).running_mean,
                       before)


@pytest.mark.parametrize('frozen_stages', [1, 2])
def test_frozen_stages_like_stock(frozen_stages):
    _, backbone = assert_train_mode_like_stock(frozen_stages=frozen_stages)
    for index in range(1, frozen_stages + 1):
        layer = getattr(backbone, f'layer{index}')
        assert not any(p.requires_grad for p in layer.parameters())
        assert not any(m.training for m in layer.modules())
    following = getattr(backbone, f'layer{frozen_stages + 1}')
    assert all(p.requires_grad for p in following.parameters())
