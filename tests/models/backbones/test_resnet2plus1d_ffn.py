"""ResNet2Plus1d_FFN: equal to the stock MMAction2 ResNet2Plus1d at every
trained count, initialised as it is; MMAction2's own R(2+1)D cases,
rewritten for the FFN version; both packaged recipes convert and build."""
import glob
import os.path as osp

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
from mmffn.models.layers import WeightAlteredConv3d

pytestmark = pytest.mark.usefixtures('one_thread')
COUNTS = (2, 4)
DEFAULT_COUNTS = (4, 8, 16)
TINY = dict(
    type='ResNet2Plus1d',
    depth=18,
    pretrained=None,
    pretrained2d=False,
    base_channels=4,
    conv_cfg=dict(type='Conv2plus1d'),
    conv1_kernel=(3, 7, 7),
    conv1_stride_t=1,
    pool1_stride_t=1,
    inflate=(1, 1, 1, 1),
    spatial_strides=(1, 2, 2, 2),
    temporal_strides=(1, 2, 2, 2))


@pytest.fixture(autouse=True)
def mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _ffn_cfg(counts=COUNTS, **kwargs):
    return dict(
        TINY, type='ResNet2Plus1d_FFN', num_segments_list=counts, **kwargs)


@pytest.mark.parametrize('counts', [COUNTS, DEFAULT_COUNTS])
def test_equals_the_stock_backbone_at_every_count(counts):
    assert_equal_to_stock_at_every_count(
        *stock_and_ffn(TINY, _ffn_cfg(counts)), counts)


def test_no_clip_depends_on_another_clip():
    assert_no_clip_depends_on_another(MODELS.build(_ffn_cfg()), 4)


def test_adapters_wrap_the_spatial_conv_of_each_block():
    ffn = MODELS.build(_ffn_cfg())
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv3d)]
    assert len(adapters) == 8  # one per BasicBlock3d
    assert all(a.kernel_size[0] == 1 for a in adapters)  # conv_s: (1, k, k)
    keys = set(ffn.state_dict())
    assert 'layer1.0.conv1.conv.conv_s.alteration.2.weight' in keys
    assert 'layer1.0.conv1.conv.bn_s.branches.4.running_var' in keys


def test_init_weights_is_the_stock_init_in_every_copy():
    assert_init_equals_stock_init(TINY, _ffn_cfg())


# --- MMAction2's test_resnet2plus1d.py, for the FFN version -----------------
def test_mmaction_r2plus1d_cases():
    with pytest.raises(AssertionError):
        MODELS.build(dict(_ffn_cfg(), pretrained2d=True))
    with pytest.raises(AssertionError):
        MODELS.build(dict(_ffn_cfg(), conv_cfg=dict(type='Conv3d')))
    ffn = MODELS.build(_ffn_cfg(frozen_stages=1))
    ffn.init_weights()
    ffn.train()
    assert ffn.conv1.conv.bn_s.training is False
    assert ffn.conv1.bn.training is False
    assert not any(p.requires_grad for p in ffn.conv1.parameters())
    for mod in ffn.layer1.modules():
        if isinstance(mod, _BatchNorm):
            assert mod.training is False
    assert not any(p.requires_grad for p in ffn.layer1.parameters())
    for frames in (4, 8):
        with ffn.frame_count(frames):
            feat = ffn(torch.randn(1, 3, frames, 64, 64))
        assert feat.shape == torch.Size([1, 32, 1, 2, 2])


RECIPES = sorted(
    glob.glob(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            'r2plus1d', '*.py')))


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_packaged_recipe_converts_and_builds(path):
    """Converted at (4, 8, 16), built with 4 base channels (a full R34
    build takes ~6 s here; SyncBN kept), every other argument the
    recipe's."""
    model = frame_flexible_model(Config.fromfile(path).model, DEFAULT_COUNTS)
    assert model['backbone']['type'] == 'ResNet2Plus1d_FFN'
    model['backbone'] = dict(model['backbone'], base_channels=4)
    model['cls_head'] = dict(model['cls_head'], in_channels=32)
    ffn = MODELS.build(model).backbone
    assert ffn.num_segments_list == DEFAULT_COUNTS and ffn.depth == 34
