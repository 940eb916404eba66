"""SwinTransformer3D_FFN: equal to the stock MMAction2 Video Swin at every
trained count (a stock Swin holding the branch's LayerNorms), initialised
and inflated as it is; the shared relative position table serves every
count as the stock window clipping reads it; MMAction2's own Swin case,
rewritten for the FFN version; every packaged Swin recipe converts and
builds."""
import glob
import os.path as osp
import re

import mmaction
import pytest
import torch
import torch.nn as nn
from mmaction.models import SwinTransformer3D
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, stock_and_ffn)

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model
from mmffn.models.backbones import SwinTransformer3D_FFN
from mmffn.models.layers import RateSpecificModule

DEFAULT_COUNTS = (4, 8, 16)
# 2 and 6 frames: 1 and 3 token frames under a 2-frame window, so 6 frames
# pad the clip to whole windows and shift them in time.
TINY_COUNTS = (2, 6)
# Two stages (16 and 32 channels, 1 and 2 heads, 1 and 2 blocks): at 32 px
# an 8x8 then a 4x4 token map, so stage one shifts 7x7 windows with a mask.
TINY = dict(
    type='SwinTransformer3D',
    arch=dict(embed_dims=16, depths=[1, 2], num_heads=[1, 2]),
    out_indices=(1, ),
    pretrained=None,
    pretrained2d=False)
_BRANCH = re.compile(r'\.branches\.(\d+)(?=\.|$)')


@pytest.fixture(autouse=True)
def mmaction_scope():
    # Recognizers are built from MMAction2's registry (data preprocessor).
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _cfg(counts, **kwargs):
    """The packaged (8, 7, 7) window for the default counts, a (2, 4, 4)
    one for the tiny counts."""
    window = (8, 7, 7) if counts == DEFAULT_COUNTS else (2, 4, 4)
    return dict(TINY, window_size=window, **kwargs)


def _ffn_cfg(counts, **kwargs):
    return dict(
        _cfg(counts, **kwargs),
        type='SwinTransformer3D_FFN',
        num_segments_list=counts)


def _randomise_layer_norms(model, seed):
    """Non-trivial LayerNorm affines (ones and zeros at init), so a copy
    loaded into the wrong place shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                n = module.weight.numel()
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def _pair(counts):
    """A stock Swin and the FFN filled from it, then every per-count copy
    randomised on its own."""
    stock, ffn = stock_and_ffn(
        _cfg(counts),
        _ffn_cfg(counts),
        randomise=lambda model: _randomise_layer_norms(model, seed=1))
    _randomise_layer_norms(ffn, seed=2)
    return stock, ffn


def _stock_at(ffn, count, counts):
    """A stock Swin holding the FFN's branch ``count``."""
    stock = MODELS.build(_cfg(counts))
    state = {}
    for key, value in ffn.state_dict().items():
        match = _BRANCH.search(key)
        if match is None or int(match.group(1)) == ffn.branch_for(count):
            state[_BRANCH.sub('', key)] = value
    stock.load_state_dict(state)
    return stock


@pytest.mark.parametrize('counts', [DEFAULT_COUNTS, TINY_COUNTS])
def test_equals_the_stock_backbone_at_every_count(counts):
    """Outputs, gradients (LayerNorms and the shared position tables
    among them) and untouched inactive copies, per count."""
    _, ffn = _pair(counts)
    for count in counts:
        compared = assert_equal_to_stock_at(
            _stock_at(ffn, count, counts), ffn, count)
        assert any('norm1.branches' in k for k in compared)
        assert any('relative_position_bias_table' in k for k in compared)


def test_filled_from_a_stock_swin_it_is_that_swin_at_every_count():
    stock, ffn = stock_and_ffn(_cfg(DEFAULT_COUNTS), _ffn_cfg(DEFAULT_COUNTS))
    stock.eval()
    ffn.eval()
    for count in DEFAULT_COUNTS + (3, 12):
        x = torch.randn(1, 3, count, 32, 32)
        with torch.no_grad(), ffn.frame_count(count):
            torch.testing.assert_close(ffn(x), stock(x), atol=0, rtol=0)


@pytest.mark.parametrize('counts', [DEFAULT_COUNTS, TINY_COUNTS])
def test_no_clip_depends_on_another_clip(counts):
    assert_no_clip_depends_on_another(_pair(counts)[1], counts[-1])


@pytest.mark.parametrize('token_frames', [1, 2, 4])
def test_a_clipped_window_reads_the_table_of_its_own_length(token_frames):
    """The fact the module doc relies on: the stock (8, 7, 7) Swin on
    ``2 d`` frames (``d`` token frames) is a stock Swin whose window has
    ``d`` frames, holding the central ``2 d - 1`` temporal rows of each
    table. So no count needs a table of its own."""
    torch.manual_seed(0)
    wide = MODELS.build(_cfg(DEFAULT_COUNTS))
    short = MODELS.build(
        dict(_cfg(DEFAULT_COUNTS), window_size=(token_frames, 7, 7)))
    state = wide.state_dict()
    for key, value in short.state_dict().items():
        if key.endswith('relative_position_bias_table'):
            rows = state[key].view(15, 13 * 13,
                                   -1)[8 - token_frames:7 + token_frames]
            state[key] = rows.reshape(value.shape)
        elif key.endswith('relative_position_index'):
            state[key] = value
    short.load_state_dict(state)
    wide.eval()
    short.eval()
    x = torch.randn(2, 3, 2 * token_frames, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(wide(x), short(x), atol=1e-5, rtol=0)


def test_structure_norms_and_keys():
    _, ffn = _pair(TINY_COUNTS)
    layer_norms = [
        m for m in ffn.modules() if isinstance(m, RateSpecificModule)
        and isinstance(m.branch(), nn.LayerNorm)
    ]
    copies = {id(c) for n in layer_norms for c in n.branches.values()}
    assert not [
        m for m in ffn.modules()
        if isinstance(m, nn.LayerNorm) and id(m) not in copies
    ]
    # Patch embedding, 2 per block (3 blocks), the merging, norm1.
    assert len(layer_norms) == 1 + 2 * 3 + 1 + 1
    assert ffn.weight_alteration is False
    keys = set(ffn.state_dict())
    for key in ('patch_embed.norm.branches.2.weight',
                'layers.1.blocks.1.norm2.branches.6.bias',
                'layers.0.downsample.norm.branches.2.weight',
                'norm1.branches.6.weight', 'patch_embed.proj.weight',
                'layers.1.blocks.0.attn.relative_position_bias_table',
                'layers.1.blocks.0.attn.relative_position_index'):
        assert key in keys, key
    assert ffn.parameter_overhead()['total'] == sum(
        p.numel() for n in layer_norms for p in n.branch().parameters())
    with pytest.raises(ValueError, match='no adapter site'):
        MODELS.build(_ffn_cfg(TINY_COUNTS, weight_alteration=True))


@pytest.mark.parametrize('pretrained2d', [True, False])
def test_init_weights_is_the_stock_init_in_every_copy(pretrained2d):
    """Without a checkpoint both settings give the stock init_cfg
    (truncated-normal Linear, constant LayerNorm), that of a stock Swin
    with pretrained2d=False (with True the stock would inflate None)."""
    ffn_cfg = _ffn_cfg(DEFAULT_COUNTS, pretrained2d=pretrained2d)
    assert_init_equals_stock_init(_cfg(DEFAULT_COUNTS), ffn_cfg)


def _swin_2d_checkpoint(stock, path):
    """A 2D Swin checkpoint (``model``, 2D patch kernel and position
    tables) for ``stock``'s layout."""
    state = {}
    for key, value in stock.state_dict().items():
        if key == 'patch_embed.proj.weight':
            value = value[:, :, 0]
        elif key.endswith('relative_position_bias_table'):
            value = value[:value.shape[0] // 15]  # one temporal row
        elif key.endswith('relative_position_index'):
            continue
        state[key] = value.clone()
    torch.save(dict(model=state), path)


def test_pretrained2d_is_inflated_into_every_copy(tmp_path):
    path = str(tmp_path / 'swin2d.pth')
    torch.manual_seed(0)
    _swin_2d_checkpoint(MODELS.build(_cfg(DEFAULT_COUNTS)), path)
    stock = MODELS.build(
        _cfg(DEFAULT_COUNTS, pretrained=path, pretrained2d=True))
    stock.init_weights()
    ffn = MODELS.build(
        _ffn_cfg(DEFAULT_COUNTS, pretrained=path, pretrained2d=True))
    ffn.init_weights()
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        torch.testing.assert_close(
            value, stock_state[_BRANCH.sub('', key)], msg=key)


def test_checkpoint_fills_every_copy(tmp_path):
    stock, _ = _pair(DEFAULT_COUNTS)
    path = str(tmp_path / 'swin.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(DEFAULT_COUNTS, pretrained=path))
    ffn.init_weights()
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        torch.testing.assert_close(
            value, stock_state[_BRANCH.sub('', key)], msg=key)


# --- MMAction2's test_swin.py, for the FFN version -------------------------
def test_mmaction_swin_case():
    """The arch checks, frozen stages and feature shapes of MMAction2's
    test (Swin-T at 64 px; 6 and 5 frames, untrained, on branch 8 and 4)."""
    for arch, kwargs in (('-t', {}), ({
            'embed_dims': 96
    }, {}), ({
            'embed_dims': 96,
            'depths': [2, 2, 6],
            'num_heads': [3, 6, 12, 24]
    }, {}), ({
            'embed_dims': 96,
            'depths': [2, 2, 6, 2, 2],
            'num_heads': [3, 6, 12, 24, 48]
    }, {}), ('t', dict(out_indices=(4, )))):
        with pytest.raises(AssertionError):
            SwinTransformer3D_FFN(arch=arch, **kwargs)
    tiny = dict(arch=TINY['arch'], out_indices=(1, ))
    with pytest.raises(TypeError):
        SwinTransformer3D_FFN(pretrained=[0, 1, 1], **tiny).init_weights()
    with pytest.raises(TypeError):
        SwinTransformer3D_FFN(**tiny).init_weights(pretrained=[0, 1, 1])

    # Frozen stages and every stage's output in one Swin-T (building one
    # takes seconds); then the outputs after the downsampling.
    frozen = SwinTransformer3D_FFN(
        arch='t',
        pretrained=None,
        pretrained2d=False,
        frozen_stages=1,
        out_indices=(0, 1, 2, 3))
    assert frozen.train() is frozen
    for param in frozen.patch_embed.parameters():
        assert param.requires_grad is False
    for param in frozen.layers[0].parameters():
        assert param.requires_grad is False
    assert frozen.layers[1].blocks[0].norm1.branch(4).weight.requires_grad
    with torch.no_grad(), frozen.frame_count(6) as branch:
        assert branch == 8  # a tie: the higher count
        feat = frozen(torch.randn(1, 3, 6, 64, 64))[-1]
    assert feat.shape == (1, 768, 3, 2, 2)
    x = torch.randn(1, 3, 5, 63, 63)
    for after, dims in ((False, (96, 192, 384, 768)), (True, (192, 384, 768,
                                                              768))):
        swin = frozen if not after else SwinTransformer3D_FFN(
            arch='t', out_indices=(0, 1, 2, 3), out_after_downsample=True)
        with torch.no_grad(), swin.frame_count(5):
            feats = swin(x)
        sizes = (8, 4, 2, 2) if after else (16, 8, 4, 2)
        for feat, dim, size in zip(feats, dims, sizes):
            assert feat.shape == (1, dim, 3, size, size)


def test_bad_input_and_checkpointing_are_refused():
    _, ffn = _pair(TINY_COUNTS)
    with ffn.frame_count(6), pytest.raises(
            ValueError,
            match=r'\(N, C, 6, H, W\) at 6 frames, got \(1, 3, 2, 32, 32\)'):
        ffn(torch.randn(1, 3, 2, 32, 32))
    with pytest.raises(NotImplementedError, match='with_cp=True'):
        MODELS.build(_ffn_cfg(TINY_COUNTS, with_cp=True))
    assert isinstance(ffn, SwinTransformer3D)


# --- MMAction2's packaged recipes -------------------------------------------
RECIPES = sorted(
    glob.glob(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            'swin', '*.py')))


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_packaged_recipe_converts_and_builds(path):
    """Converted at (4, 8, 16), then built as the recipe's recognizer with
    every stage shrunk to one block (the widths, heads and windows are the
    recipe's; a full Swin-S/B/L FFN takes 9-16 s to build here); a forward
    at each count."""
    model = frame_flexible_model(Config.fromfile(path).model, DEFAULT_COUNTS)
    backbone = model['backbone']
    assert backbone['type'] == 'SwinTransformer3D_FFN'
    assert model['type'] == 'RecognizerFFN3D'
    assert backbone['num_segments_list'] == DEFAULT_COUNTS
    arch = dict(SwinTransformer3D.arch_zoo[backbone['arch']], depths=[1] * 4)
    model['backbone'] = dict(backbone, arch=arch)
    recognizer = MODELS.build(model)
    assert recognizer.backbone.num_segments_list == DEFAULT_COUNTS
    small = recognizer.backbone.eval()
    for count in DEFAULT_COUNTS:
        with torch.no_grad(), small.frame_count(count):
            out = small(torch.randn(1, 3, count, 32, 32))
        assert out.shape == (1, model['cls_head']['in_channels'], count // 2,
                             1, 1)
