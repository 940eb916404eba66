"""MViT_FFN: equal to the stock MMAction2 MViT at every trained count (a stock
MViT of ``temporal_size=T`` holding the branch's norms and temporal
positions), initialised and loaded as it is; fresh from a stock MViT it is
that MViT at every count; an untrained count resizes the nearest branch as
the stock forward does; MMAction2's own MViT cases, rewritten for the FFN
version; every packaged MViT recipe converts and builds."""
import glob
import math
import os.path as osp
import re

import mmaction
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models import MViT
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, stock_and_ffn)

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model
from mmffn.models.backbones import MViT_FFN
from mmffn.models.layers import RateSpecificModule, to_static

DEFAULT_COUNTS = (4, 8, 16)
TINY_COUNTS = (2, 6)  # 1 and 3 token frames
# Three blocks of 16 then 32 channels (a downscale at block 1), 32 px: a
# 8x8 then 4x4 token map; the patch tokens of every scale (the class token
# still attends), drop path 0.1.
TINY = dict(
    type='MViT',
    arch=dict(embed_dims=16, num_layers=3, num_heads=1, downscale_indices=[1]),
    spatial_size=32,
    out_scales=[0, 1],
    output_cls_token=False,
    drop_path_rate=0.1)
_BRANCH = re.compile(r'\.branches\.(\d+)(?=\.|$)')


@pytest.fixture(autouse=True)
def mmaction_scope():
    # Recognizers are built from MMAction2's registry (data preprocessor).
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _cfg(temporal_size, **kwargs):
    return dict(TINY, temporal_size=temporal_size, **kwargs)


def _ffn_cfg(counts, temporal_size=None, **kwargs):
    return dict(
        _cfg(counts[-1] if temporal_size is None else temporal_size, **kwargs),
        type='MViT_FFN',
        num_segments_list=counts)


def _randomise(model, seed):
    """Non-trivial LayerNorm affines and temporal positions, so a copy
    loaded into the wrong place shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'norm' in name:
                param.copy_(
                    torch.rand(param.shape, generator=generator) +
                    0.5 if name.endswith('weight') else
                    torch.randn(param.shape, generator=generator) * 0.1)
            elif 'rel_pos_t' in name or 'pos_embed' in name:
                param.copy_(torch.randn(param.shape, generator=generator))


def _copies(owner, name):
    """The per-count copies of ``owner.<name>`` (the attribute itself reads
    the active copy, as the stock forward does)."""
    return owner._modules[name]


def _stock_state(ffn, branch):
    state = {}
    for key, value in ffn.state_dict().items():
        match = _BRANCH.search(key)
        if match is None or int(match.group(1)) == branch:
            state[_BRANCH.sub('', key)] = value
    return state


def _stock_at(ffn, count, **kwargs):
    """A stock MViT of ``temporal_size=count`` holding branch ``count``."""
    stock = MODELS.build(_cfg(count, **kwargs))
    stock.load_state_dict(_stock_state(ffn, count))
    return stock


def _pair(counts, temporal_size=None, **kwargs):
    """A stock MViT (of ``temporal_size``) and the FFN filled from it, then
    every per-count copy randomised on its own."""
    temporal_size = counts[-1] if temporal_size is None else temporal_size
    stock, ffn = stock_and_ffn(
        _cfg(temporal_size, **kwargs),
        _ffn_cfg(counts, temporal_size, **kwargs),
        randomise=lambda model: _randomise(model, seed=1))
    _randomise(ffn, seed=2)
    return stock, ffn


@pytest.mark.parametrize('counts, abs_pos', [(DEFAULT_COUNTS, False),
                                             (TINY_COUNTS, True)])
def test_equals_the_stock_backbone_at_every_count(counts, abs_pos):
    """Outputs, gradients (norms, temporal positions), untouched inactive
    copies, against a stock MViT of each count."""
    _, ffn = _pair(counts, temporal_size=16, use_abs_pos_embed=abs_pos)
    for count in counts:
        stock = _stock_at(ffn, count, use_abs_pos_embed=abs_pos)
        compared = assert_equal_to_stock_at(stock, ffn, count)
        assert any('.rel_pos_t.branches' in k for k in compared)
        assert any('.norm_q.branches' in k for k in compared)
        assert abs_pos == any('pos_embed.branches' in k for k in compared)


@pytest.mark.parametrize('temporal_size, abs_pos', [(16, False), (32, True),
                                                    (6, False)])
def test_filled_from_a_stock_mvit_it_is_that_mvit_at_every_count(
        temporal_size, abs_pos):
    """The copies start as the stock forward resizes its own weights: the
    recipe's temporal_size need not be a trained count."""
    stock, ffn = stock_and_ffn(
        _cfg(temporal_size, use_abs_pos_embed=abs_pos),
        _ffn_cfg(DEFAULT_COUNTS, temporal_size, use_abs_pos_embed=abs_pos),
        randomise=lambda model: _randomise(model, seed=1))
    stock.eval()
    ffn.eval()
    for count in DEFAULT_COUNTS:
        x = torch.randn(1, 3, count, 32, 32)
        with torch.no_grad(), ffn.frame_count(count):
            for a, b in zip(ffn(x), stock(x)):
                torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize('frames', [3, 7, 12])
def test_untrained_count_resizes_the_nearest_branch(frames):
    """3 -> branch 4, 7 -> 8, 12 -> 16: a stock MViT of the branch's
    temporal_size holding it, run on ``frames`` frames (its forward resizes
    the temporal positions); the gradient reaches that branch only."""
    _, ffn = _pair(DEFAULT_COUNTS, use_abs_pos_embed=True)
    branch = ffn.branch_for(frames)
    assert branch == {3: 4, 7: 8, 12: 16}[frames]
    stock = _stock_at(ffn, branch, use_abs_pos_embed=True)
    stock.eval()
    ffn.eval()
    x = torch.randn(2, 3, frames, 32, 32)
    with ffn.frame_count(frames):
        got = ffn(x)
    for a, b in zip(got, stock(x)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    sum(t.sum() for t in got).backward()
    rel_pos = _copies(ffn.blocks[1].attn, 'rel_pos_t')
    for count in DEFAULT_COUNTS:
        grad = rel_pos.branches[str(count)].grad
        assert (grad is not None) == (count == branch), count


@pytest.mark.parametrize('counts', [DEFAULT_COUNTS, TINY_COUNTS])
def test_no_clip_depends_on_another_clip(counts):
    assert_no_clip_depends_on_another(_pair(counts)[1], counts[-1])


def test_structure_norms_positions_and_keys():
    _, ffn = _pair(TINY_COUNTS, temporal_size=16, use_abs_pos_embed=True)
    layer_norms = [
        m for m in ffn.modules() if isinstance(m, RateSpecificModule)
        and isinstance(m.branch(), nn.LayerNorm)
    ]
    copies = {id(c) for n in layer_norms for c in n.branches.values()}
    assert not [
        m for m in ffn.modules()
        if isinstance(m, nn.LayerNorm) and id(m) not in copies
    ]
    # 5 per block (norm1, norm2, norm_q/k/v), 2 output norms.
    assert len(layer_norms) == 5 * 3 + 2
    state = ffn.state_dict()
    head_dims = (16, 16, 16)  # 16, 32 / 2 heads, 32 / 2 heads
    for i, head_dim in enumerate(head_dims):
        assert state[f'blocks.{i}.attn.rel_pos_t.branches.2'].shape == (
            1, head_dim)
        assert state[f'blocks.{i}.attn.rel_pos_t.branches.6'].shape == (
            5, head_dim)
        assert f'blocks.{i}.attn.rel_pos_h' in state  # shared
    assert state['pos_embed.branches.2'].shape == (1, 1 + 1 * 8 * 8, 16)
    assert state['pos_embed.branches.6'].shape == (1, 1 + 3 * 8 * 8, 16)
    assert 'blocks.0.norm1.branches.2.weight' in state
    assert 'patch_embed.projection.weight' in state
    assert not [k for k in state if k.endswith('rel_pos_t')]
    # temporal_size=16: the stock has 15 rows and 1 + 8 * 64 tokens; the
    # copies (fewer frames) have fewer: a negative overhead here.
    positions = 3 * 16 * (1 + 5 - 15) + 16 * ((1 + 64) + (1 + 192) -
                                              (1 + 8 * 64))
    overhead = ffn.parameter_overhead()
    assert overhead['temporal_positions'] == positions
    assert overhead['total'] == positions + sum(
        p.numel() for n in layer_norms for p in n.branch().parameters())
    with pytest.raises(ValueError, match='no adapter site'):
        MODELS.build(_ffn_cfg(TINY_COUNTS, weight_alteration=True))
    # Deployment: the static model has the stock keys and shapes.
    static = to_static(ffn, 6)
    stock = MODELS.build(_cfg(6, use_abs_pos_embed=True))
    assert {k: v.shape
            for k, v in static.state_dict().items()
            } == {k: v.shape
                  for k, v in stock.state_dict().items()}


def test_position_copies_are_per_count():
    """Changing the 2-frame temporal positions changes the output at 2
    frames only."""
    _, ffn = _pair(TINY_COUNTS)
    ffn.eval()
    x = torch.randn(1, 3, 6, 32, 32)
    with torch.no_grad():
        with ffn.frame_count(2):
            before_2 = ffn(x[:, :, :2])
        with ffn.frame_count(6):
            before_6 = ffn(x)
        _copies(ffn.blocks[0].attn, 'rel_pos_t').branches['2'].add_(1.0)
        with ffn.frame_count(2):
            after_2 = ffn(x[:, :, :2])
        with ffn.frame_count(6):
            after_6 = ffn(x)
    assert not torch.allclose(before_2[0], after_2[0], atol=1e-4)
    for a, b in zip(before_6, after_6):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def _resized(rel_pos, length):
    """MMAction2's rule, written out for the tests: linear, corners not
    aligned."""
    return F.interpolate(rel_pos.t()[None], size=length, mode='linear')[0].t()


@pytest.mark.parametrize('abs_pos', [False, True])
def test_init_weights_is_the_stock_init_in_every_copy(abs_pos):
    """Each temporal copy is the stock init resized to its count (the
    16-frame copy the stock weight itself)."""

    def adjust(key, expected, value):
        if '.rel_pos_t.' in key:
            return _resized(expected, value.shape[0])
        if key.startswith('pos_embed.'):
            source = expected[:, 1:].reshape(1, 8, 8, 8, -1)
            frames = (value.shape[1] - 1) // 64
            resized = F.interpolate(
                source.permute(0, 4, 1, 2, 3),
                size=(frames, 8, 8),
                mode='trilinear')
            return torch.cat(
                (expected[:, :1], resized.flatten(2).transpose(1, 2)), 1)
        return expected

    _, ffn = assert_init_equals_stock_init(
        _cfg(16, use_abs_pos_embed=abs_pos),
        _ffn_cfg(DEFAULT_COUNTS, use_abs_pos_embed=abs_pos), adjust)
    assert _copies(ffn.blocks[0].attn,
                   'rel_pos_t').branches['16'].abs().sum() > 0


def test_checkpoint_fills_every_copy(tmp_path):
    """A stock checkpoint of another temporal_size (32) fills each copy
    resized; an FFN checkpoint loads as it is."""
    stock, _ = _pair(DEFAULT_COUNTS, temporal_size=32)
    path = str(tmp_path / 'mvit.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(DEFAULT_COUNTS, 16))
    ffn.load_pretrained(path)
    state = ffn.state_dict()
    stock_state = stock.state_dict()
    for key, value in state.items():
        expected = stock_state[_BRANCH.sub('', key)]
        if '.rel_pos_t.' in key:
            expected = _resized(expected, value.shape[0])
        torch.testing.assert_close(value, expected, msg=key)
    ffn_path = str(tmp_path / 'mvit_ffn.pth')
    torch.save(dict(state_dict=state), ffn_path)
    again = MODELS.build(_ffn_cfg(DEFAULT_COUNTS, 16))
    again.load_pretrained(ffn_path)
    for key, value in again.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_pretrained_of_the_stock_is_loaded_by_the_twin(tmp_path):
    """``pretrained`` (the stock argument) is loaded as the stock loads it,
    into every copy."""
    stock, _ = _pair(DEFAULT_COUNTS)
    path = str(tmp_path / 'mvit.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(DEFAULT_COUNTS, pretrained=path))
    ffn.init_weights()
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        expected = stock_state[_BRANCH.sub('', key)]
        if '.rel_pos_t.' in key:
            expected = _resized(expected, value.shape[0])
        torch.testing.assert_close(value, expected, msg=key)


# --- MMAction2's test_mvit.py, for the FFN version -------------------------
def test_mmaction_structure_case():
    with pytest.raises(AssertionError, match='not in default archs'):
        MViT_FFN(arch='unknown')
    with pytest.raises(AssertionError, match='Custom arch needs'):
        MViT_FFN(
            arch=dict(num_layers=24, num_heads=16, feedforward_channels=4096))
    model = MViT_FFN(
        arch=dict(
            embed_dims=96,
            num_layers=10,
            num_heads=1,
            downscale_indices=[2, 5, 8]),
        drop_path_rate=0.1)
    assert model.embed_dims == 96 and model.num_layers == 10
    for i, block in enumerate(model.blocks):
        stage = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3][i]
        assert block.out_dims == 96 * 2**stage
    with pytest.raises(AssertionError, match="get <class 'dict'>"):
        MViT_FFN(arch='tiny', out_scales={1: 1})
    with pytest.raises(AssertionError, match='Invalid out_scales 13'):
        MViT_FFN(arch='tiny', out_scales=[0, 13])
    model = MViT_FFN(arch='tiny', drop_path_rate=0.1)
    assert len(model.blocks) == 10
    for i, block in enumerate(model.blocks):
        stage = [0, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3][i]
        assert block.attn.num_heads == 2**stage
        if i:
            assert block.drop_path.drop_prob == pytest.approx(0.1 * i / 9)


def test_mmaction_init_weights_case():
    """A Kaiming init_cfg changes the patch conv; the absolute position
    embedding (zeros before) is initialised in every copy."""
    model = MViT_FFN(
        arch='tiny',
        use_abs_pos_embed=True,
        init_cfg=[
            dict(
                type='Kaiming',
                layer='Conv3d',
                mode='fan_in',
                nonlinearity='linear')
        ])
    before = model.patch_embed.projection.weight.clone()
    for count in DEFAULT_COUNTS:
        assert not _copies(model, 'pos_embed').branches[str(count)].any()
    model.init_weights()
    assert not torch.allclose(before, model.patch_embed.projection.weight)
    for count in DEFAULT_COUNTS:
        assert _copies(model, 'pos_embed').branches[str(count)].any()


def test_mmaction_forward_case():
    """MViT-T features at 64 px (6 frames on branch 8), every scale, and
    other input sizes (2 frames on branch 4)."""
    x = torch.randn(1, 3, 6, 64, 64)
    model = MViT_FFN(arch='tiny', out_scales=(0, 1, 2, 3))
    with torch.no_grad(), model.frame_count(6):
        outs = model(x)
    assert len(outs) == 4
    for stage, (patch_token, cls_token) in enumerate(outs):
        stride = 2**stage
        assert patch_token.shape == (1, 96 * stride, 3, 16 // stride,
                                     16 // stride)
        assert cls_token.shape == (1, 96 * stride)
    model = MViT_FFN(arch='tiny')
    for size in ((64, 64), (96, 96), (96, 128)):
        with torch.no_grad(), model.frame_count(2):
            outs = model(torch.randn(1, 3, 2, *size))
        assert len(outs) == 1
        patch_token, cls_token = outs[-1]
        assert patch_token.shape == (1, 768, 1, math.ceil(size[0] / 32),
                                     math.ceil(size[1] / 32))
        assert cls_token.shape == (1, 768)


def test_bad_input_and_checkpointing_are_refused():
    _, ffn = _pair(TINY_COUNTS)
    with ffn.frame_count(6), pytest.raises(
            ValueError,
            match=r'\(N, C, 6, H, W\) at 6 frames, got \(1, 3, 2, 32, 32\)'):
        ffn(torch.randn(1, 3, 2, 32, 32))
    assert isinstance(ffn, MViT)


# --- MMAction2's packaged recipes -------------------------------------------
RECIPES = sorted(
    glob.glob(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            'mvit', '*.py')))


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_packaged_recipe_converts_and_builds(path):
    """Converted at (4, 8, 16) and built as the recipe's recognizer with
    one block per scale (the widths, heads, temporal_size and spatial_size
    are the recipe's); a 32 px forward at each count."""
    model = frame_flexible_model(Config.fromfile(path).model, DEFAULT_COUNTS)
    backbone = model['backbone']
    assert backbone['type'] == 'MViT_FFN'
    assert model['type'] == 'RecognizerFFN3D'
    arch = dict(MViT.arch_zoo[backbone.get('arch', 'base')])
    arch.update(num_layers=4, downscale_indices=[1, 2, 3])
    model['backbone'] = dict(backbone, arch=arch)
    recognizer = MODELS.build(model)
    small = recognizer.backbone.eval()
    assert small.num_segments_list == DEFAULT_COUNTS
    for count in DEFAULT_COUNTS:
        with torch.no_grad(), small.frame_count(count):
            patch_token, cls_token = small(torch.randn(1, 3, count, 32,
                                                       32))[-1]
        assert cls_token.shape == (1, model['cls_head']['in_channels'])
        assert patch_token.shape[2] == count // 2
