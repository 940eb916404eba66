"""ResNet3dCSN_FFN: equal to the stock MMAction2 ResNet3dCSN (ir and ip) at
every trained count, initialised as it is; MMAction2's own CSN cases,
rewritten for the FFN version; every packaged CSN recipe converts and
builds."""
import glob
import os.path as osp

import mmaction
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at_every_count,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, stock_and_ffn)
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv3d

pytestmark = pytest.mark.usefixtures('one_thread')
COUNTS = (2, 4)
DEFAULT_COUNTS = (4, 8, 16)
# ResNet-50 bottlenecks at 4 base channels, 1, 2, 1, 1 blocks per stage.
TINY = dict(
    type='ResNet3dCSN',
    depth=50,
    pretrained=None,
    pretrained2d=False,
    base_channels=4,
    stage_blocks=(1, 2, 1, 1))
BLOCKS = 5


@pytest.fixture(autouse=True)
def mmaction_scope():
    # The recognizer builds its data preprocessor by a bare type name.
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _cfg(mode='ir', **kwargs):
    return dict(TINY, bottleneck_mode=mode, **kwargs)


def _ffn_cfg(mode='ir', counts=COUNTS, **kwargs):
    return dict(
        _cfg(mode, **kwargs), type='ResNet3dCSN_FFN', num_segments_list=counts)


@pytest.mark.parametrize('mode,counts', [('ir', COUNTS), ('ip', COUNTS),
                                         ('ir', DEFAULT_COUNTS)])
def test_equals_the_stock_backbone_at_every_count(mode, counts):
    stock, ffn = stock_and_ffn(_cfg(mode), _ffn_cfg(mode, counts))
    assert_equal_to_stock_at_every_count(stock, ffn, counts)


def test_no_clip_depends_on_another_clip():
    assert_no_clip_depends_on_another(MODELS.build(_ffn_cfg()), 4)


@pytest.mark.parametrize('mode', ['ir', 'ip'])
def test_structure_norms_adapters_and_keys(mode):
    ffn = MODELS.build(_ffn_cfg(mode))
    norms = [m for m in ffn.modules() if isinstance(m, RateSpecificBatchNorm)]
    copies = {id(c) for n in norms for c in n.branches.values()}
    assert not [
        m for m in ffn.modules()
        if isinstance(m, _BatchNorm) and id(m) not in copies
    ]
    # Stem, 3 per block (4 with ip's extra 1x1x1 conv), 4 downsamples.
    per_block = 4 if mode == 'ip' else 3
    assert len(norms) == 1 + per_block * BLOCKS + 4
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv3d)]
    assert len(adapters) == BLOCKS  # on conv1 (1x1x1) of every block
    assert all(a.kernel_size == (1, 1, 1) for a in adapters)
    keys = set(ffn.state_dict())
    assert 'layer2.1.conv1.conv.alteration.2.weight' in keys
    assert 'layer1.0.downsample.bn.branches.4.running_mean' in keys
    last = 1 if mode == 'ip' else 0
    assert f'layer3.0.conv2.{last}.bn.branches.2.weight' in keys
    assert f'layer3.0.conv2.{last}.conv.weight' in keys  # shared depthwise


@pytest.mark.parametrize('zero_init_residual', [True, False])
def test_init_weights_is_the_stock_init_in_every_copy(zero_init_residual):
    cfg = dict(zero_init_residual=zero_init_residual)
    _, ffn = assert_init_equals_stock_init(_cfg(**cfg), _ffn_cfg(**cfg))
    zeroed = [
        k for k, v in ffn.state_dict().items()
        if '.conv3.bn.branches.' in k and k.endswith('weight') and not v.any()
    ]
    assert len(zeroed) == (BLOCKS * len(COUNTS) if zero_init_residual else 0)


def test_checkpoint_fills_every_copy(tmp_path):
    stock, _ = stock_and_ffn(_cfg(), _ffn_cfg())
    path = str(tmp_path / 'csn.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(pretrained=path))
    ffn.init_weights()
    for count in COUNTS:
        torch.testing.assert_close(
            ffn.state_dict()[f'layer4.0.conv2.0.bn.branches.{count}.'
                             'running_var'],
            stock.state_dict()['layer4.0.conv2.0.bn.running_var'])


# --- MMAction2's test_resnet3d_csn.py, for the FFN version ------------------
def test_mmaction_csn_cases():
    """Its cases at 4 base channels, depth 50 (152 in MMAction2): the mode
    check, bn_frozen freezing every copy, the conv2 layouts and the output
    shape of a 6-frame clip (an untrained count: branch 4)."""
    with pytest.raises(ValueError, match='Bottleneck mode'):
        MODELS.build(_ffn_cfg('id'))
    frozen = MODELS.build(_ffn_cfg(bn_frozen=True, norm_eval=True))
    assert frozen.train() is frozen
    bns = [m for m in frozen.modules() if isinstance(m, _BatchNorm)]
    assert len(bns) == (1 + 3 * BLOCKS + 4) * len(COUNTS)
    assert not any(p.requires_grad for m in bns for p in m.parameters())
    assert not any(m.training for m in bns)
    x = torch.randn(2, 3, 6, 64, 64)
    for mode, length in (('ip', 2), ('ir', 1)):
        ffn = MODELS.build(_ffn_cfg(mode))
        ffn.init_weights()
        ffn.train()
        for i, name in enumerate(ffn.res_layers):
            layers = getattr(ffn, name)
            assert len(layers) == ffn.stage_blocks[i]
            for layer in layers:
                assert isinstance(layer.conv2, nn.Sequential)
                assert len(layer.conv2) == length
                assert layer.conv2[-1].groups == layer.planes
        with ffn.frame_count(6) as branch:
            assert branch == 4
            assert ffn(x).shape == torch.Size([2, 4 * 32, 1, 2, 2])
        ffn.train(False)
        assert not any(m.training for m in ffn.children())


# --- MMAction2's packaged recipes -------------------------------------------
RECIPES = sorted(
    glob.glob(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            'csn', '*.py')))


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_packaged_recipe_converts_and_builds(path):
    """Converted at (4, 8, 16), then built with 4 base channels and 5
    blocks (a full R152 build takes ~10 s here, the R50 one ~4 s), every
    other argument the recipe's; one forward per count."""
    model = frame_flexible_model(Config.fromfile(path).model, DEFAULT_COUNTS)
    assert model['type'] == 'RecognizerFFN3D'
    backbone = model['backbone']
    assert backbone['type'] == 'ResNet3dCSN_FFN'
    model['backbone'] = dict(
        backbone, base_channels=4, stage_blocks=(1, 2, 1, 1), pretrained=None)
    model['cls_head'] = dict(model['cls_head'], in_channels=4 * 32)
    recognizer = MODELS.build(model)
    ffn = recognizer.backbone
    assert ffn.num_segments_list == DEFAULT_COUNTS
    assert ffn.depth == backbone['depth']
    assert ffn.bn_frozen == backbone.get('bn_frozen', False)
    ffn.eval()
    for count in DEFAULT_COUNTS:
        with torch.no_grad(), ffn.frame_count(count):
            assert ffn(torch.randn(1, 3, count, 32, 32)).shape[:2] == (1, 128)
