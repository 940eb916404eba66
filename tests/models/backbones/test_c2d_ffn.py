"""C2D_FFN: equal to the stock MMAction2 C2D at every trained count,
initialised as it is (a torchvision checkpoint loaded by the stock twin);
MMAction2's own C2D case, rewritten for the FFN version; both packaged
Recognizer3D C2D recipes convert and build."""
import glob
import os.path as osp
import re

import mmaction
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at_every_count,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, stock_and_ffn)
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv2d

pytestmark = pytest.mark.usefixtures('one_thread')
COUNTS = (2, 4)
DEFAULT_COUNTS = (4, 8, 16)
# ResNet-18 and -50 blocks, two stages (C2D has no base_channels).
TINY = dict(
    type='C2D',
    depth=18,
    pretrained=None,
    num_stages=2,
    out_indices=(1, ),
    strides=(1, 2),
    dilations=(1, 1))


@pytest.fixture(autouse=True)
def mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _cfg(**kwargs):
    return dict(TINY, **kwargs)


def _ffn_cfg(counts=COUNTS, **kwargs):
    return dict(_cfg(**kwargs), type='C2D_FFN', num_segments_list=counts)


@pytest.mark.parametrize('depth,counts', [(18, COUNTS), (50, COUNTS),
                                          (18, DEFAULT_COUNTS)])
def test_equals_the_stock_backbone_at_every_count(depth, counts):
    stock, ffn = stock_and_ffn(
        _cfg(depth=depth), _ffn_cfg(counts, depth=depth))
    assert_equal_to_stock_at_every_count(stock, ffn, counts)


def test_no_clip_depends_on_another_clip():
    assert_no_clip_depends_on_another(MODELS.build(_ffn_cfg()), 4)


def test_structure_norms_adapters_and_keys():
    ffn = MODELS.build(_ffn_cfg())
    norms = [m for m in ffn.modules() if isinstance(m, RateSpecificBatchNorm)]
    copies = {id(c) for n in norms for c in n.branches.values()}
    assert not [
        m for m in ffn.modules()
        if isinstance(m, _BatchNorm) and id(m) not in copies
    ]
    assert len(norms) == 1 + 2 * 4 + 1  # stem, 2 per block, 1 downsample
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv2d)]
    assert len(adapters) == 4
    keys = set(ffn.state_dict())
    assert 'conv1.bn.branches.2.running_mean' in keys
    assert 'layer2.0.conv1.conv.alteration.4.weight' in keys
    assert 'layer2.0.downsample.bn.branches.4.weight' in keys


def test_init_weights_is_the_stock_init_in_every_copy():
    assert_init_equals_stock_init(_cfg(), _ffn_cfg())


def test_torchvision_checkpoint_is_loaded_as_the_stock_loads_it(tmp_path):
    """A torchvision-named ResNet-18 (the recipes' ImageNet weights) into
    every copy, exactly as the stock C2D maps it."""
    source = MODELS.build(dict(type='ResNet', depth=18, pretrained=None))
    renames = ((r'^conv1\.conv\.', 'conv1.'), (r'^conv1\.bn\.', 'bn1.'),
               (r'\.conv(\d)\.conv\.', r'.conv\1.'), (r'\.conv(\d)\.bn\.',
                                                      r'.bn\1.'),
               (r'downsample\.conv\.', 'downsample.0.'), (r'downsample\.bn\.',
                                                          'downsample.1.'))
    state = {}
    for key, value in source.state_dict().items():
        for pattern, name in renames:
            key = re.sub(pattern, name, key)
        state[key] = value
    path = str(tmp_path / 'resnet18.pth')
    torch.save(state, path)
    full = dict(type='C2D', depth=18, pretrained=path)
    _, ffn = assert_init_equals_stock_init(full, dict(full, type='C2D_FFN'))
    for key in ('layer2.1.conv2.bn.running_var', 'layer1.0.conv1.conv.weight'):
        loaded = ffn.state_dict()[key.replace('bn.', 'bn.branches.4.')]
        assert torch.equal(loaded, source.state_dict()[key]), key


# --- MMAction2's test_c2d.py, for the FFN version ---------------------------
@pytest.mark.parametrize('depth', [18, 50])
def test_mmaction_c2d_case(depth):
    """Its case (8 frames, 64 px; the temporal pool halves them), two stages:
    the shape at each count, 6 frames (untrained) from branch 4."""
    ffn = MODELS.build(_ffn_cfg(depth=depth))
    ffn.init_weights()
    ffn.train()
    channels = 128 * (4 if depth == 50 else 1)
    for frames in (2, 4, 6, 8):
        with ffn.frame_count(frames):
            feat = ffn(torch.randn(1, 3, frames, 64, 64))
        assert feat.shape == torch.Size([1, channels, frames // 2, 8, 8])


# --- MMAction2's packaged recipes -------------------------------------------
RECIPES = [
    path for path in sorted(
        glob.glob(
            osp.join(
                osp.dirname(mmaction.__file__), '.mim', 'configs',
                'recognition', 'c2d', '*.py')))
    if Config.fromfile(path).model.type == 'Recognizer3D'
]


def test_both_recognizer3d_recipes_are_found():
    assert len(RECIPES) == 2  # the 'nopool' ones are Recognizer2D ResNets


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_packaged_recipe_converts_and_builds(path):
    """Converted at (4, 8, 16) and built as is (ResNet-50, ~3 s), no
    download (pretrained=None); one forward per count, 32 px."""
    model = frame_flexible_model(Config.fromfile(path).model, DEFAULT_COUNTS)
    assert model['type'] == 'RecognizerFFN3D'
    assert model['backbone']['type'] == 'C2D_FFN'
    model['backbone']['pretrained'] = None
    ffn = MODELS.build(model).backbone
    assert ffn.num_segments_list == DEFAULT_COUNTS and ffn.depth == 50
    ffn.eval()
    for count in DEFAULT_COUNTS:
        with torch.no_grad(), ffn.frame_count(count):
            feat = ffn(torch.randn(1, 3, count, 32, 32))
        assert feat.shape == (1, 2048, count // 2, 1, 1)
