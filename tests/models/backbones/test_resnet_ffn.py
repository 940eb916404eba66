"""ResNet_FFN: equal to MMAction2's plain ResNet (TSN, TRN, C2D-nopool) at
every trained count, initialised as it is; MMAction2's own ResNet cases,
rewritten for the FFN version; every packaged config of the family converts
and builds."""
import glob
import os.path as osp

import mmaction
import pytest
import torch
import torch.nn as nn
from mmaction.models import ResNet
from mmaction.registry import MODELS
from mmaction.testing import check_norm_state, generate_backbone_demo_inputs
from mmengine.config import Config
from mmengine.registry import init_default_scope
from shared_builders import (assert_equal_to_stock_at_every_count,
                             stock_and_ffn, stock_key)
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model, stock_model
from mmffn.models.backbones import ResNet_FFN
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv2d

pytestmark = pytest.mark.usefixtures('one_thread')

DEFAULT_COUNTS = (4, 8, 16)
TINY_COUNTS = (1, 2)
R18 = dict(type='ResNet', depth=18, pretrained=None)
SIZE = 32


def _ffn_cfg(cfg, counts):
    return dict(cfg, type='ResNet_FFN', num_segments_list=counts)


def _frames(count, clips=2, channels=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(
        clips * count, channels, SIZE, SIZE, generator=generator)


# --- equal to the stock backbone ---------------------------------------------
@pytest.mark.parametrize('counts', [DEFAULT_COUNTS, TINY_COUNTS])
def test_equals_the_stock_backbone_at_every_count(counts):
    """Outputs, gradients, running statistics of the active copies; other
    copies untouched."""
    compared = assert_equal_to_stock_at_every_count(
        *stock_and_ffn(R18, _ffn_cfg(R18, counts)), counts)
    assert all(len(keys) == 60 for keys in compared.values())  # R18


def test_equals_a_bottleneck_resnet_with_flow_input():
    """Bottlenecks (R50) and the 10-channel input of TSN's flow config."""
    cfg = dict(R18, depth=50, in_channels=10)
    stock, ffn = stock_and_ffn(cfg, _ffn_cfg(cfg, (2, 4)))
    stock.eval()
    ffn.eval()
    for count in (2, 4):
        x = _frames(count, channels=10)
        with torch.no_grad(), ffn.frame_count(count):
            torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize('count', DEFAULT_COUNTS)
def test_no_clip_depends_on_another_clip(count):
    """In eval mode each clip of a batch of three gives what it gives
    alone (2D layout: a clip is ``count`` consecutive frames)."""
    _, ffn = stock_and_ffn(R18, _ffn_cfg(R18, DEFAULT_COUNTS))
    ffn.eval()
    x = _frames(count, clips=3)
    with torch.no_grad(), ffn.frame_count(count):
        batch = ffn(x)
        for i in range(3):
            frames = slice(i * count, (i + 1) * count)
            torch.testing.assert_close(
                batch[frames], ffn(x[frames]), atol=1e-5, rtol=0)


def _built_then_seeded(cfg, seed=3):
    """MODELS.build(cfg), then its init_weights from ``seed``."""
    model = MODELS.build(cfg)
    torch.manual_seed(seed)
    model.init_weights()
    return model


@pytest.mark.parametrize('counts', [DEFAULT_COUNTS, TINY_COUNTS])
def test_init_equals_stock_init(counts):
    """The same draws from the same seed: every copy holds the stock
    init, adapters near zero. (shared_builders'
    assert_init_equals_stock_init seeds before the stock build, for 3D
    inits that build a stock twin; a 2D init builds none, so the seed is
    set right before each init_weights.)"""
    init_default_scope('mmaction')
    stock = _built_then_seeded(R18)
    ffn = _built_then_seeded(_ffn_cfg(R18, counts))
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        if '.alteration.' in key:
            assert 0 < value.abs().max() < 0.01, key
        else:
            torch.testing.assert_close(
                value, stock_state[stock_key(key)], msg=key)


def test_branches_are_different_functions():
    _, ffn = stock_and_ffn(R18, _ffn_cfg(R18, DEFAULT_COUNTS))
    ffn.reset_weight_alteration()
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.1)
    ffn.eval()
    x = _frames(8, clips=2)
    with torch.no_grad():
        with ffn.frame_count(8):
            eight = ffn(x)
        with ffn.frame_count(16):  # same frames, 16's copies and adapters
            sixteen = ffn(x)
    assert not torch.allclose(eight, sixteen, atol=1e-3)


# --- structure and frame counts ----------------------------------------------
def test_structure_keys_and_frame_count():
    ffn = ResNet_FFN(18, num_segments_list=DEFAULT_COUNTS)
    norms = [m for m in ffn.modules() if isinstance(m, RateSpecificBatchNorm)]
    assert len(norms) == 20  # every BatchNorm of R18, one copy per count
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv2d)]
    assert len(adapters) == 8  # one per block, on conv1
    stock_keys = set(ResNet(18).state_dict())
    shared = {
        k
        for k in ffn.state_dict()
        if '.bn.' not in k and '.alteration.' not in k
    }
    assert shared == {k for k in stock_keys if '.bn.' not in k}
    assert 'layer1.0.conv1.conv.alteration.4.weight' in ffn.state_dict()
    # ResNet takes no frame count: none is given to it, none is held.
    assert 'num_segments' not in vars(ffn)
    assert ffn.active_frame_count == 16
    with ffn.frame_count(6) as branch:
        assert branch == 8 and ffn.active_frame_count == 6
        assert ffn.conv1.bn.active == 8
        with pytest.raises(ValueError, match=r'10 frames.*frame count 6'):
            ffn(_frames(5, clips=2))
    assert ffn.conv1.bn.active == 16
    assert ResNet_FFN(18, num_segments=4).active_frame_count == 4


def test_only_the_active_branch_learns():
    torch.manual_seed(0)
    ffn = ResNet_FFN(18, num_segments_list=DEFAULT_COUNTS)
    ffn.init_weights()
    ffn.train()
    with ffn.frame_count(8):
        out = ffn(_frames(8))
    out.sum().backward()
    for name, param in ffn.named_parameters():
        other = any(f'.{c}.' in name for c in (4, 16))
        assert (param.grad is None) == other, name


@pytest.mark.parametrize('kwargs,text', [
    (dict(num_segments_list=(8, 4)), '(8, 4)'),
    (dict(num_segments_list=()), 'empty'),
    (dict(num_segments=0), 'got 0'),
    (dict(branch_policy='closest'), "'closest'"),
    (dict(num_segments=6, branch_policy='strict'), '6 frames'),
])
def test_bad_config_values_are_named(kwargs, text):
    with pytest.raises(ValueError) as error:
        ResNet_FFN(18, **kwargs)
    assert text in str(error.value)


def test_parameter_overhead_on_r50():
    ffn = ResNet_FFN(50, num_segments_list=DEFAULT_COUNTS)
    overhead = ffn.parameter_overhead()
    # As ResNetTSM_FFN: 26,560 BN channels, 2 extra copies of (weight,
    # bias); 13,120 block-input channels, one adapter per count.
    assert overhead['rate_specific_norm'] == 2 * 2 * 26560
    assert overhead['weight_alteration'] == 3 * 13120
    stock = sum(p.numel() for p in ResNet(50).parameters())
    assert sum(p.numel()
               for p in ffn.parameters()) - stock == overhead['total']


# --- MMAction2's ResNet cases (tests/models/backbones/test_resnet.py) --------
def test_mmaction_resnet_cases():
    with pytest.raises(KeyError):
        ResNet_FFN(20)
    with pytest.raises(AssertionError):
        ResNet_FFN(50, num_stages=0)
    with pytest.raises(AssertionError):
        ResNet_FFN(50, num_stages=5)
    with pytest.raises(AssertionError):
        ResNet_FFN(50, strides=(1, ), dilations=(1, 1), num_stages=3)
    with pytest.raises(TypeError):
        ResNet_FFN(50, pretrained=0).init_weights()
    with pytest.raises(AssertionError):
        ResNet_FFN(18, style='tensorflow')
    # Stock: AssertionError from the blocks; FFN refuses it first (the
    # recomputed forward would run outside the frame_count context).
    with pytest.raises(NotImplementedError, match='with_cp'):
        ResNet_FFN(18, with_cp=True)

    # R18 where upstream builds R50 and depth does not matter (time).
    norm_eval = ResNet_FFN(18, norm_eval=True)
    norm_eval.init_weights()
    norm_eval.train()
    assert check_norm_state(norm_eval.modules(), False)

    frozen = ResNet_FFN(18, frozen_stages=1)
    frozen.init_weights()
    frozen.train()
    assert not any(bn.training for bn in frozen.conv1.bn.branches.values())
    for param in frozen.conv1.parameters():
        assert param.requires_grad is False
    for mod in frozen.layer1.modules():
        if isinstance(mod, _BatchNorm):
            assert mod.training is False
    for param in frozen.layer1.parameters():
        assert param.requires_grad is False

    # Partial BN: every copy of the first BatchNorm2d trains, the others
    # are frozen (all their copies).
    pbn = ResNet_FFN(18, partial_bn=True)
    pbn.train()
    norms = [m for m in pbn.modules() if isinstance(m, RateSpecificBatchNorm)]
    for index, norm in enumerate(norms):
        for bn in norm.branches.values():
            assert bn.training == (index == 0)
            assert bn.weight.requires_grad == (index == 0)
            assert bn.bias.requires_grad == (index == 0)
    assert sum(isinstance(m, nn.BatchNorm2d)
               for m in pbn.modules()) == 3 * len(norms)

    # Inference at 64 px (a batch of one frame: count 1).
    imgs = generate_backbone_demo_inputs((1, 3, 64, 64))
    for depth, channels, style in ((18, 512, 'pytorch'), (50, 2048, 'pytorch'),
                                   (50, 2048, 'caffe')):
        resnet = ResNet_FFN(
            depth, style=style, norm_eval=False, num_segments_list=(1, ))
        resnet.init_weights()
        resnet.train()
        assert resnet(imgs).shape == torch.Size([1, channels, 2, 2])
    # The flow input of TSN's flow config (torchvision weights not loaded
    # here: nothing is downloaded in the tests).
    flow = ResNet_FFN(depth=18, in_channels=10, num_segments_list=(1, ))
    flow.init_weights()
    feat = flow(generate_backbone_demo_inputs((1, 10, 64, 64)))
    assert feat.shape == torch.Size([1, 512, 2, 2])


# --- the packaged configs ----------------------------------------------------
CONFIG_ROOT = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition')
FAMILY_CONFIGS = sorted(
    glob.glob(osp.join(CONFIG_ROOT, 'tsn', '*.py')) +
    glob.glob(osp.join(CONFIG_ROOT, 'c2d', '*nopool*.py')))


def test_the_family_has_its_packaged_configs():
    assert len(FAMILY_CONFIGS) == 10  # 8 TSN, 2 C2D without pooling
    # The other C2D configs are Recognizer3D with the 3D C2D backbone.
    for path in glob.glob(osp.join(CONFIG_ROOT, 'c2d', '*.py')):
        if path not in FAMILY_CONFIGS:
            model = Config.fromfile(path).model
            assert (model.type, model.backbone.type) == ('Recognizer3D', 'C2D')


@pytest.mark.parametrize(
    'path', FAMILY_CONFIGS, ids=[osp.basename(p) for p in FAMILY_CONFIGS])
def test_every_packaged_config_converts_and_builds(path):
    """Converted with frame_flexible_model; built by MODELS with the depth
    cut to 18 (the conversion does not read it; full R50/R101 builds take
    seconds each) and the ImageNet weights left out."""
    model = Config.fromfile(path).model.to_dict()
    ffn = frame_flexible_model(model, DEFAULT_COUNTS, pretrained=None)
    assert ffn['type'] == 'RecognizerFFN'
    assert ffn['backbone'] == dict(
        model['backbone'],
        type='ResNet_FFN',
        num_segments=16,
        num_segments_list=DEFAULT_COUNTS,
        pretrained=None)
    assert ffn['cls_head'] == model['cls_head']  # TSNHead: no count
    ffn['backbone']['depth'] = 18
    ffn['cls_head']['in_channels'] = 512
    init_default_scope('mmaction')
    built = MODELS.build(ffn)
    assert isinstance(built.backbone, ResNet_FFN)
    assert built.frame_counts == DEFAULT_COUNTS
    channels = model['backbone'].get('in_channels', 3)
    inputs = torch.randn(1, 4, channels, SIZE, SIZE)
    with torch.no_grad():
        assert built(inputs, mode='tensor', stage='head').shape[0] == 1
    stock = stock_model(ffn, 6)
    assert stock['backbone']['type'] == 'ResNet'
    assert 'num_segments' not in stock['backbone']
