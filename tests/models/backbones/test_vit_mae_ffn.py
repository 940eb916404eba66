"""VisionTransformer_FFN (VideoMAE): equal to the stock MMAction2
VisionTransformer at every trained count (a stock ViT of ``num_frames=T``
holding the branch's norms and position table), initialised and loaded as
it is; an untrained count gets the exact sinusoid table of its length, or
the nearest learnable table resampled; MMAction2's own ViT case, rewritten
for the FFN version; every packaged VideoMAE recipe converts and builds."""
import glob
import os.path as osp
import re

import mmaction
import pytest
import torch
import torch.nn as nn
from mmaction.models import VisionTransformer
from mmaction.models.backbones.vit_mae import get_sinusoid_encoding
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, stock_and_ffn)

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model
from mmffn.models.backbones import VisionTransformer_FFN
from mmffn.models.layers import RateSpecificModule, to_static

COUNTS = (2, 4)
DEFAULT_COUNTS = (4, 8, 16)
# 2x2 patches of 16 px, tubelets of 2 frames, two blocks (drop path 0 and
# 0.1), two heads.
TINY = dict(
    type='VisionTransformer',
    img_size=32,
    patch_size=16,
    embed_dims=32,
    depth=2,
    num_heads=2,
    num_frames=COUNTS[-1],
    tubelet_size=2,
    drop_path_rate=0.1)
KINDS = dict(
    sinusoid=dict(),
    learnable=dict(use_learnable_pos_emb=True),
    cls_token_norm=dict(use_learnable_pos_emb=True, use_mean_pooling=False),
    gammas=dict(init_values=0.1))
pytestmark = pytest.mark.usefixtures('one_thread')
_BRANCH = re.compile(r'\.branches\.(\d+)(?=\.|$)')


@pytest.fixture(autouse=True)
def mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _cfg(kind='sinusoid', **kwargs):
    return dict(TINY, **KINDS[kind], **kwargs)


def _ffn_cfg(kind='sinusoid', counts=COUNTS, **kwargs):
    return dict(
        _cfg(kind, **kwargs),
        type='VisionTransformer_FFN',
        num_segments_list=counts)


def _randomise(model, seed):
    """Non-trivial LayerNorm affines and learnable tables, so a copy loaded
    into the wrong place shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if 'norm' in name:
                param.copy_(
                    torch.rand(param.shape, generator=generator) +
                    0.5 if name.endswith('weight') else
                    torch.randn(param.shape, generator=generator) * 0.1)
            elif name.startswith('pos_embed'):
                param.copy_(torch.randn(param.shape, generator=generator))


def _stock_state(ffn, count):
    """The FFN's weights of branch ``count`` under stock keys."""
    return {
        _BRANCH.sub('', key): value
        for key, value in ffn.state_dict().items()
        if _BRANCH.search(key) is None
        or int(_BRANCH.search(key).group(1)) == count
    }


def _pair(kind='sinusoid', counts=COUNTS, num_frames=None):
    """An FFN ViT filled from a stock one, every copy then randomised on its
    own."""
    num_frames = num_frames or counts[-1]
    stock, ffn = stock_and_ffn(
        _cfg(kind, num_frames=num_frames),
        _ffn_cfg(kind, counts, num_frames=num_frames),
        randomise=lambda model: _randomise(model, seed=1))
    _randomise(ffn, seed=2)
    return stock, ffn


def _stock_at(ffn, count, kind, table=None, frames=None):
    """A stock ViT of ``num_frames=frames`` (default ``count``) holding the
    FFN's branch ``count`` (``table`` as its pos_embed if given)."""
    stock = MODELS.build(_cfg(kind, num_frames=frames or count))
    state = _stock_state(ffn, count)
    if table is not None:
        state['pos_embed'] = table
    elif frames not in (None, count):
        state['pos_embed'] = stock.pos_embed  # the sinusoid table it computed
    stock.load_state_dict(state)
    return stock


def _resampled(table, frames, patches=4):
    """Linear resampling along the tubelet axis, ends kept: the documented
    rule written out for the tests."""
    tubelets = table.shape[1] // patches
    grid = table.reshape(1, tubelets, patches * table.shape[-1])
    grid = nn.functional.interpolate(
        grid.transpose(1, 2),
        size=frames // 2,
        mode='linear',
        align_corners=True).transpose(1, 2)
    return grid.reshape(1, -1, table.shape[-1])


def _expected_table(kind):
    """``adjust(key, expected, value)``: the stock ``expected`` for ``key``,
    a table resampled (learnable) or computed (sinusoid) at the copy's
    count."""
    learnable = KINDS[kind].get('use_learnable_pos_emb', False)

    def adjust(key, expected, value):
        if not key.startswith('pos_embed.'):
            return expected
        if learnable:
            return _resampled(expected, value.shape[1] // 4 * 2)
        return get_sinusoid_encoding(value.shape[1], value.shape[-1])

    return adjust


@pytest.mark.parametrize('kind,counts',
                         [(kind, COUNTS)
                          for kind in KINDS] + [('sinusoid', DEFAULT_COUNTS),
                                                ('learnable', DEFAULT_COUNTS)])
def test_equals_the_stock_backbone_at_every_count(kind, counts):
    """Against a stock ViT of ``count`` frames holding the branch; a
    learnable table of the count gets a gradient, the others none."""
    _, ffn = _pair(kind, counts)
    for count in counts:
        stock = _stock_at(ffn, count, kind)
        assert_equal_to_stock_at(stock, ffn, count, grad_atol=1e-5)
        if ffn.pos_embed.learnable:
            assert ffn.pos_embed.branches[str(count)].grad.abs().sum() > 0


@pytest.mark.parametrize('kind', list(KINDS))
def test_stock_count_is_exactly_the_stock_model(kind):
    stock, ffn = stock_and_ffn(
        _cfg(kind), _ffn_cfg(kind), randomise=lambda m: _randomise(m, 1))
    stock.eval()
    ffn.eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ffn(x), stock(x), atol=0, rtol=0)


@pytest.mark.parametrize('kind', ['sinusoid', 'learnable'])
@pytest.mark.parametrize('frames', [6, 8])
def test_untrained_count_uses_the_nearest_branch(kind, frames):
    """6 and 8 frames -> branch 4: its norms, and the sinusoid table of 6
    (8) frames exactly as a stock ViT computes it, or the learnable table of
    branch 4 resampled to 3 (4) tubelets."""
    _, ffn = _pair(kind)
    assert ffn.branch_for(frames) == 4
    table = None
    if kind == 'learnable':
        table = _resampled(ffn.pos_embed.branches['4'].detach(), frames)
    stock = _stock_at(ffn, 4, kind, table=table, frames=frames)
    stock.eval()
    ffn.eval()
    x = torch.randn(2, 3, frames, 32, 32)
    with ffn.frame_count(frames):
        got = ffn(x)
    torch.testing.assert_close(got, stock(x), atol=1e-5, rtol=0)
    if kind == 'learnable':
        got.sum().backward()
        assert ffn.pos_embed.branches['4'].grad.abs().sum() > 0
        assert ffn.pos_embed.branches['2'].grad is None


def test_another_image_size_resizes_the_table_as_the_stock_does():
    _, ffn = _pair('learnable')
    stock = _stock_at(ffn, 2, 'learnable')
    stock.eval()
    ffn.eval()
    x = torch.randn(1, 3, 2, 64, 64)
    with torch.no_grad(), ffn.frame_count(2):
        torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize('kind', ['sinusoid', 'learnable'])
def test_no_clip_depends_on_another_clip(kind):
    assert_no_clip_depends_on_another(_pair(kind)[1], 2)


@pytest.mark.parametrize('kind', list(KINDS))
def test_structure_norms_tables_and_keys(kind):
    _, ffn = _pair(kind)
    norms = [
        m for m in ffn.modules() if isinstance(m, RateSpecificModule)
        and isinstance(m.branch(), nn.LayerNorm)
    ]
    copies = {id(c) for n in norms for c in n.branches.values()}
    plain = [
        m for m in ffn.modules()
        if isinstance(m, nn.LayerNorm) and id(m) not in copies
    ]
    assert not plain  # every LayerNorm is per count
    assert len(norms) == 2 * 2 + 1  # norm1, norm2 per block; fc_norm/norm
    state = ffn.state_dict()
    for count in COUNTS:
        assert state[f'pos_embed.branches.{count}'].shape == (1, count * 2, 32)
    assert 'blocks.1.norm2.branches.2.weight' in state
    assert 'patch_embed.projection.weight' in state  # shared
    learnable = {k for k, _ in ffn.named_parameters() if 'pos_embed' in k}
    assert bool(learnable) == ffn.pos_embed.learnable


def test_init_weights_is_the_stock_init_in_every_copy():
    for kind in KINDS:
        assert_init_equals_stock_init(
            _cfg(kind), _ffn_cfg(kind), adjust=_expected_table(kind))


@pytest.mark.parametrize('kind', ['sinusoid', 'learnable'])
def test_stock_checkpoint_fills_every_count(tmp_path, kind):
    """A stock ViT of 4 frames into counts 2, 4 and 8: the norms in every
    copy; the learnable table as is at 4, resampled at 2 and 8; the sinusoid
    table of each count computed."""
    torch.manual_seed(0)
    stock = MODELS.build(_cfg(kind))
    _randomise(stock, seed=1)
    path = str(tmp_path / 'vit.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(
        _ffn_cfg(kind, counts=(2, 4, 8), num_frames=4, pretrained=path))
    ffn.init_weights()
    got = ffn.state_dict()
    table = stock.pos_embed.detach()
    for count in (2, 4, 8):
        expected = _expected_table(kind)('pos_embed.', table,
                                         got[f'pos_embed.branches.{count}'])
        torch.testing.assert_close(got[f'pos_embed.branches.{count}'],
                                   expected)
        torch.testing.assert_close(
            got[f'blocks.1.norm1.branches.{count}.weight'],
            stock.state_dict()['blocks.1.norm1.weight'])
    assert torch.equal(got['pos_embed.branches.4'], table)


@pytest.mark.parametrize('kind', ['sinusoid', 'learnable'])
def test_to_static_is_the_stock_model_of_the_count(kind):
    _, ffn = _pair(kind)
    static = to_static(ffn, 2)
    stock = MODELS.build(_cfg(kind, num_frames=2))
    stock.load_state_dict(static.state_dict())
    torch.testing.assert_close(stock.pos_embed,
                               ffn.pos_embed.table(2).detach())
    assert isinstance(static.fc_norm, nn.LayerNorm)


def test_wrong_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match='weight_alteration=False'):
        MODELS.build(_ffn_cfg(weight_alteration=True))
    with pytest.raises(
            ValueError,
            match=r'tubelet_size=2: num_segments_list must hold multiples '
            r'of 2, got \[3\]'):
        MODELS.build(_ffn_cfg(counts=(3, 4)))
    with pytest.raises(ValueError, match=r'num_frames .* got \[5\]'):
        MODELS.build(_ffn_cfg(num_frames=5))
    ffn = MODELS.build(_ffn_cfg())
    with pytest.raises(ValueError, match=r'\(N, C, 4, H, W\)'):
        ffn(torch.randn(1, 3, 2, 32, 32))
    with ffn.frame_count(3), pytest.raises(
            ValueError, match='multiple of tubelet_size=2 frames, got 3'):
        ffn(torch.randn(1, 3, 3, 32, 32))
    strict = MODELS.build(_ffn_cfg(branch_policy='strict'))
    with pytest.raises(ValueError, match='strict'):
        with strict.frame_count(6):
            pass


# --- MMAction2's test_vit_mae.py, for the FFN version -----------------------
def test_mmaction_vit_case():
    """MMAction2's test_vit_backbone at tiny widths (8 frames, 64 px, 2
    blocks), each variant against the stock model of the same seed."""
    x = torch.randn(1, 3, 8, 64, 64)
    variants = (dict(qkv_bias=True, drop_path_rate=0.2, init_values=0.1),
                dict(
                    use_learnable_pos_emb=True,
                    drop_rate=0.1,
                    use_mean_pooling=False))
    small = dict(
        img_size=64, num_frames=8, embed_dims=32, depth=2, num_heads=2)
    for kwargs in variants:
        torch.manual_seed(0)
        stock = VisionTransformer(**small, **kwargs)
        stock.init_weights()
        ffn = VisionTransformer_FFN(
            **small, **kwargs, num_segments_list=(4, 8))
        torch.manual_seed(0)  # the stock twin is built and initialised
        ffn.init_weights()
        assert ffn(x).shape == torch.Size([1, 32])
        stock.eval()
        ffn.eval()
        with torch.no_grad():
            torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)
            with ffn.frame_count(4):
                assert ffn(x[:, :, :4]).shape == torch.Size([1, 32])


# --- MMAction2's packaged recipes -------------------------------------------
RECIPES = sorted(
    glob.glob(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            'videomae*', '*.py')))


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_packaged_recipe_converts_and_builds(path):
    """Converted at (4, 8, 16) and built at the recipe's widths, patch and
    tubelet sizes, 2 blocks deep (a full ViT-L build takes ~16 s here), then
    run at each count (32 px)."""
    model = frame_flexible_model(Config.fromfile(path).model, DEFAULT_COUNTS)
    backbone = model['backbone']
    assert backbone['type'] == 'VisionTransformer_FFN'
    assert model['type'] == 'RecognizerFFN3D'
    model['backbone'] = dict(backbone, depth=2)
    recognizer = MODELS.build(model)
    ffn = recognizer.backbone
    assert ffn.num_segments_list == DEFAULT_COUNTS
    assert ffn.pos_embed.frame_counts == DEFAULT_COUNTS
    assert ffn.embed_dims == backbone['embed_dims']
    ffn.eval()
    for count in DEFAULT_COUNTS:
        with torch.no_grad(), ffn.frame_count(count):
            out = ffn(torch.randn(1, 3, count, 32, 32))
        assert out.shape == (1, backbone['embed_dims'])
