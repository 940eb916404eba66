"""UniFormerV2_FFN: equal to the stock MMAction2 UniFormerV2 at every trained
count (a stock UniFormerV2 of ``t_size=T`` holding the branch), initialised
and loaded as it is; an untrained count runs on the nearest branch; no clip
depends on another; MMAction2's own UniFormerV2 cases rewritten for the FFN
version; every packaged UniFormerV2 recipe converts and builds."""
import copy
import glob
import os.path as osp

import mmaction
import pytest
import torch
import torch.nn as nn
from mmaction.models.backbones import uniformerv2 as stock_module
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another,
                             load_stock_into, stock_and_ffn)

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model
from mmffn.models.backbones import UniFormerV2_FFN
from mmffn.models.layers import WeightAlteredConv3d, to_static

# 2x2 patches of 16 px, three local blocks (two feeding global blocks), drop
# path and MLP dropout on, so train mode draws the same masks as the stock.
TINY = dict(
    type='UniFormerV2',
    input_resolution=32,
    patch_size=16,
    width=32,
    layers=3,
    heads=2,
    t_size=8,
    backbone_drop_path_rate=0.1,
    return_list=[1, 2],
    n_layers=2,
    n_dim=32,
    n_head=2,
    drop_path_rate=0.1,
    mlp_dropout=[0.5, 0.5],
    clip_pretrained=False)
# Every shipped recipe: no local MHRA, no temporal downsampling; the stock
# defaults' other structures: local MHRA (BatchNorm3d), temporal stride 2.
VARIANTS = {
    'recipe': dict(no_lmhra=True),
    'lmhra': dict(no_lmhra=False, double_lmhra=True),
    'downsample': dict(temporal_downsample=True, no_lmhra=False),
}
COUNT_SETS = ((4, 8, 16), (2, 4))
CONFIG_DIR = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
    'uniformerv2')


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    # Tiny tensors: on a loaded machine one thread ran them ~12x faster than
    # two (measured here: 0.05 s against 0.67 s for one clip test).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _cfg(variant='recipe', **kwargs):
    return dict(TINY, **VARIANTS[variant], **kwargs)


def _ffn_cfg(variant='recipe', counts=(2, 4), **kwargs):
    return dict(
        _cfg(variant, **kwargs),
        type='UniFormerV2_FFN',
        num_segments_list=counts)


def _randomise(model, seed):
    """Non-trivial LayerNorm and BatchNorm affines and statistics, per copy,
    so that a copy used at the wrong count shows."""
    generator = torch.Generator().manual_seed(seed)

    def rand(shape, low, high):
        return torch.rand(shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.LayerNorm, nn.BatchNorm3d)):
                module.weight.copy_(rand(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(rand(module.bias.shape, -0.2, 0.2))
            if isinstance(module, nn.BatchNorm3d):
                module.running_mean.copy_(rand(module.num_features, -.2, .2))
                module.running_var.copy_(rand(module.num_features, 0.5, 1.5))


def _pair(variant='recipe', counts=(2, 4)):
    """A stock UniFormerV2 and the FFN filled from it, then every per-count
    copy randomised on its own (adapters at zero)."""
    stock, ffn = stock_and_ffn(
        _cfg(variant),
        _ffn_cfg(variant, counts),
        randomise=lambda model: _randomise(model, seed=1))
    _randomise(ffn, seed=2)
    return stock, ffn


def _stock_at(ffn, frames, variant='recipe'):
    """A stock UniFormerV2 of ``t_size=frames`` holding branch
    ``branch_for(frames)`` of ``ffn`` (adapters folded)."""
    stock = MODELS.build(_cfg(variant, t_size=frames))
    static = to_static(copy.deepcopy(ffn), ffn.branch_for(frames))
    stock.load_state_dict(static.state_dict())
    return stock


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('counts', COUNT_SETS)
def test_equals_the_stock_backbone_at_every_count(variant, counts):
    """Outputs, gradients, running statistics against a stock UniFormerV2
    of ``t_size=T`` holding branch T; other copies untouched."""
    _, ffn = _pair(variant, counts)
    for count in counts:
        pair = copy.deepcopy(ffn)
        assert_equal_to_stock_at(_stock_at(pair, count, variant), pair, count)


def test_structure_norms_adapters_and_keys():
    _, ffn = _pair('lmhra')
    plain = [
        name for name, m in ffn.named_modules()
        if isinstance(m, (nn.LayerNorm,
                          nn.BatchNorm3d)) and '.branches.' not in name
    ]
    assert not plain  # every norm is per count
    state = ffn.state_dict()
    # ln_pre, ln_1/ln_2 of 3 local blocks, ln_1/2/3 of 2 global, norm.
    layer_norms = {k.split('.branches.')[0] for k in state if 'ln' in k}
    assert len(layer_norms) == 1 + 2 * 3 + 3 * 2 + 1 - 1  # norm has no 'ln'
    assert 'transformer.norm.branches.2.weight' in state
    assert 'transformer.resblocks.0.lmhra1.pos_embed.0.branches.4.' \
        'running_mean' in state
    assert [type(c) for c in ffn.transformer.dpe] == [WeightAlteredConv3d] * 2
    assert state['transformer.dpe.1.alteration.2.weight'].shape == (32, 1, 1,
                                                                    1, 1)
    for key in ('conv1.weight', 'positional_embedding', 'class_embedding',
                'transformer.temporal_cls_token', 'transformer.balance',
                'transformer.dec.0.attn.in_proj_weight'):
        assert key in state  # shared
    # The stock global block reads its width from ln_1.weight.
    assert ffn.transformer.dec[0].ln_1.weight.shape == (32, )
    overhead = ffn.parameter_overhead()
    assert overhead['weight_alteration'] == 2 * 2 * 32  # 2 DPEs, 2 counts


@pytest.mark.parametrize('frames, branch', [(1, 2), (3, 4), (6, 4)])
def test_untrained_count_runs_on_the_nearest_branch(frames, branch):
    """The stock model of ``t_size=frames`` holding the nearest branch."""
    _, ffn = _pair('lmhra')
    assert ffn.branch_for(frames) == branch
    stock = _stock_at(ffn, frames, 'lmhra').eval()
    ffn.eval()
    x = torch.randn(2, 3, frames, 32, 32)
    with torch.no_grad(), ffn.frame_count(frames):
        torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)
    assert ffn.transformer.T == 4  # back to the default count


def test_adapters_fold_into_the_dpe_convs():
    """Non-zero adapters: the stock model holding the folded DPE weights;
    changing the adapter of 2 frames changes 2 frames only."""
    _, ffn = _pair()
    with torch.no_grad():
        for conv in ffn.transformer.dpe:
            for adapter in conv.alteration.values():
                adapter.weight.normal_(0, 0.5)
    ffn.eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        for count in (2, 4):
            with ffn.frame_count(count):
                torch.testing.assert_close(
                    ffn(x[:, :, :count]),
                    _stock_at(ffn, count).eval()(x[:, :, :count]),
                    atol=1e-5,
                    rtol=0)
        with ffn.frame_count(4):
            before = ffn(x)
        ffn.transformer.dpe[0].alteration['2'].weight.add_(1.0)
        with ffn.frame_count(4):
            torch.testing.assert_close(ffn(x), before, atol=0, rtol=0)


@pytest.mark.parametrize('variant', list(VARIANTS))
@pytest.mark.parametrize('count', [2, 3, 4])
def test_no_clip_depends_on_another_clip(variant, count):
    if variant == 'downsample' and count == 3:
        count = 6  # an even untrained count (see the odd one below)
    assert_no_clip_depends_on_another(_pair(variant)[1], count)


def test_odd_count_with_temporal_downsample_uses_the_conv_length():
    """3 frames make ceil(3 / 2) = 2 token frames (the stock t_size // 2
    would split them wrongly); each clip still gives what it gives alone."""
    _, ffn = _pair('downsample')
    assert [ffn.token_frames(t) for t in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    with ffn.frame_count(3):
        assert ffn.transformer.T == 2
    assert_no_clip_depends_on_another(ffn, 3)


@pytest.mark.parametrize('variant', list(VARIANTS))
def test_init_weights_is_the_stock_init_in_every_copy(variant):
    assert_init_equals_stock_init(_cfg(variant), _ffn_cfg(variant))


def _fake_clip(monkeypatch, width=32, patch=16):
    """The CLIP download replaced by a 2D ViT state dict (seeded)."""
    generator = torch.Generator().manual_seed(7)
    state = {
        'conv1.weight':
        torch.randn(width, 3, patch, patch, generator=generator),
        'class_embedding':
        torch.randn(width, generator=generator),
        'ln_pre.weight':
        torch.rand(width, generator=generator) + 0.5,
        'transformer.resblocks.1.ln_2.bias':
        torch.randn(width, generator=generator),
    }
    monkeypatch.setattr(stock_module, '_load_checkpoint',
                        lambda *args, **kwargs: dict(state))
    return state


@pytest.mark.parametrize('variant', ['recipe', 'downsample'])
def test_clip_pretrained_is_inflated_as_the_stock_does(variant, monkeypatch):
    """clip_pretrained=True: the stock twin loads and inflates the named
    CLIP encoder (centre frame with temporal_downsample) into every copy."""
    state = _fake_clip(monkeypatch)
    clip = dict(clip_pretrained=True, pretrained='ViT-B/16')
    stock, ffn = assert_init_equals_stock_init(
        _cfg(variant, **clip), _ffn_cfg(variant, **clip))
    conv1 = ffn.conv1.weight
    torch.testing.assert_close(conv1[:, :, conv1.shape[2] // 2],
                               state['conv1.weight'])
    for count in (2, 4):
        torch.testing.assert_close(ffn.ln_pre.branches[str(count)].weight,
                                   state['ln_pre.weight'])
    # The stock refuses clip_pretrained=True without a name; so does FFN.
    with pytest.raises(AssertionError, match='clip pretraied'):
        MODELS.build(_ffn_cfg(clip_pretrained=True)).init_weights()


@pytest.mark.parametrize('prefix', ['', 'backbone.'])
def test_pretrained_stock_checkpoint_fills_every_copy(prefix, tmp_path):
    """clip_pretrained=False: a stock UniFormerV2 checkpoint (plain or a
    recognizer's) fills every copy, adapters kept near zero."""
    stock = MODELS.build(_cfg())
    stock.init_weights()
    _randomise(stock, seed=4)
    path = str(tmp_path / 'stock.pth')
    torch.save(
        {'state_dict': {prefix + k: v
                        for k, v in stock.state_dict().items()}}, path)
    ffn = MODELS.build(_ffn_cfg(pretrained=path))
    ffn.init_weights()
    for count in (2, 4):
        pair = copy.deepcopy(ffn)
        for conv in pair.transformer.dpe:
            assert 0 < conv.alteration[str(count)].weight.abs().max() < 0.01
            conv.reset_alteration(0.0)
        stock_at = MODELS.build(_cfg(t_size=count))
        stock_at.load_state_dict(stock.state_dict())
        assert_equal_to_stock_at(stock_at, pair, count)


@pytest.mark.parametrize('t_size', [4, 6, 32])
def test_recipe_t_size_in_or_out_of_the_counts_builds_and_trains(t_size):
    """t_size has no weight: any value builds; every count trains."""
    ffn = MODELS.build(_ffn_cfg(t_size=t_size))
    ffn.init_weights()
    ffn.train()
    optimizer = torch.optim.SGD(ffn.parameters(), lr=0.1)
    for count in (2, 4):
        with ffn.frame_count(count):
            ffn(torch.randn(2, 3, count, 32, 32)).square().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    assert ffn.transformer.T == ffn.active_frame_count == 4


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match='t_size must be a positive int'):
        MODELS.build(_ffn_cfg(t_size=0))
    with pytest.raises(ValueError, match=r'expects clips shaped \(N, C, 2'):
        ffn = MODELS.build(_ffn_cfg())
        with ffn.frame_count(2):
            ffn(torch.randn(1, 3, 4, 32, 32))
    with pytest.raises(NotImplementedError, match='with_cp'):
        MODELS.build(_ffn_cfg(with_cp=True))


def test_ablations_without_adapters_or_specialised_norms():
    shared = MODELS.build(_ffn_cfg(rate_specific_norms=False))
    assert type(shared.transformer.dec[0].ln_1) is nn.LayerNorm
    plain = MODELS.build(_ffn_cfg(weight_alteration=False))
    assert type(plain.transformer.dpe[0]) is nn.Conv3d
    for ffn in (shared, plain):
        ffn.init_weights()
        load_stock_into(ffn, MODELS.build(_cfg()))
        assert_no_clip_depends_on_another(ffn, 2)


# MMAction2's tests/models/backbones/test_uniformerv2.py, for the FFN version:
# its two cases (8 frames; 16 frames with temporal downsampling and local
# MHRA) at counts (4, 8, 16), width 768 -> 48 (12 heads of 4 channels): at
# 768 one case took ~30 s on this machine's shared CPUs (build 2.5 s, init
# 18 s, one forward 10 s). Output (1, width) at the recipe's count and the
# others.
UPSTREAM = dict(
    input_resolution=64,
    patch_size=16,
    width=48,
    layers=12,
    heads=12,
    dw_reduction=1.5,
    backbone_drop_path_rate=0.,
    double_lmhra=True,
    return_list=[8, 9, 10, 11],
    n_layers=4,
    n_dim=48,
    n_head=12,
    mlp_factor=4.,
    drop_path_rate=0.,
    clip_pretrained=False,
    mlp_dropout=[0.5, 0.5, 0.5, 0.5])


@pytest.mark.parametrize('t_size, downsample, no_lmhra', [(8, False, True),
                                                          (16, True, False)])
def test_mmaction2_uniformerv2_cases(t_size, downsample, no_lmhra):
    model = UniFormerV2_FFN(
        t_size=t_size,
        temporal_downsample=downsample,
        no_lmhra=no_lmhra,
        num_segments_list=(4, 8, 16),
        **UPSTREAM)
    model.init_weights()
    model.eval()
    for frames in (t_size, 4):
        with torch.no_grad(), model.frame_count(frames):
            out = model(torch.rand(1, 3, frames, 64, 64))
        assert out.shape == torch.Size([1, 48])


def _shrunk(model):
    """A converted recipe shrunk to a tiny width and depth; every count-
    related setting (t_size, temporal_downsample, kernel_size, counts) and
    the input grid (input_resolution, patch_size) kept."""
    model = copy.deepcopy(model)
    model['backbone'].update(
        width=32,
        layers=2,
        heads=2,
        return_list=[0, 1],
        n_layers=2,
        n_dim=32,
        n_head=2,
        mlp_dropout=[0.5, 0.5])
    model['cls_head'].update(in_channels=32, num_classes=3)
    return model


def test_every_packaged_recipe_converts_and_builds():
    """All 24 UniFormerV2 recipes: converted at (4, 8, 16) as they are, then
    built shrunk (full size: ~19 s per ViT-L build here); one training step
    at 4 frames for each distinct count-related setting."""
    paths = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
    assert len(paths) == 24
    heads, trained = [], set()
    for path in paths:
        stock = Config.fromfile(path).model
        model = frame_flexible_model(stock, (4, 8, 16))
        backbone = model['backbone']
        assert model['type'] == 'RecognizerFFN3D'
        assert backbone['type'] == 'UniFormerV2_FFN'
        assert backbone['num_segments_list'] == (4, 8, 16)
        assert backbone['t_size'] == stock.backbone.t_size
        heads.append(model['cls_head']['type'])
        recognizer = MODELS.build(_shrunk(model))
        assert isinstance(recognizer.backbone, UniFormerV2_FFN)
        size = backbone['input_resolution']
        setting = (backbone['t_size'], size, backbone['patch_size'])
        if setting in trained:
            continue
        trained.add(setting)
        with recognizer.backbone.frame_count(4):
            feats = recognizer.backbone(torch.randn(1, 3, 4, size, size))
        recognizer.cls_head(feats).sum().backward()
        assert recognizer.backbone.conv1.weight.grad is not None
    assert heads.count('TimeSformerHead') == 19
    assert heads.count('UniFormerHead') == 5
    assert {t for t, _, _ in trained} == {8, 16, 32}


@pytest.mark.parametrize('head', ['TimeSformerHead', 'UniFormerHead'])
def test_recognizer_ffn_3d_trains_and_tests_at_any_count(head):
    """What the mixing config runs, in memory: one multi-rate step (4 + 8 +
    16 frames per video, every branch and the shared weights updated), then
    tests at 4, 6 and 16 frames."""
    from mmaction.structures import ActionDataSample
    from mmengine.optim import OptimWrapper

    def samples(n, clip_lens):
        out = []
        for i in range(n):
            sample = ActionDataSample().set_gt_label(torch.tensor([i % 3]))
            sample.set_metainfo(dict(clip_lens=clip_lens))
            out.append(sample)
        return out

    stock = dict(
        type='Recognizer3D',
        backbone=_cfg(),
        cls_head=dict(
            type=head, in_channels=32, num_classes=3, average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))
    model = MODELS.build(frame_flexible_model(stock, (4, 8, 16)))
    model.init_weights()
    before = copy.deepcopy(model.state_dict())
    torch.manual_seed(0)
    data = dict(
        inputs=[torch.rand(1, 3, 28, 32, 32) * 255 for _ in range(2)],
        data_samples=samples(2, (4, 8, 16)))
    model.train_step(data,
                     OptimWrapper(torch.optim.SGD(model.parameters(), lr=1)))
    state = model.state_dict()
    for key in ('backbone.ln_pre.branches.4.weight',
                'backbone.ln_pre.branches.16.weight',
                'backbone.transformer.dpe.0.alteration.8.weight',
                'backbone.conv1.weight'):
        assert not torch.equal(state[key], before[key]), key
    for frames in (4, 6, 16):
        data = dict(
            inputs=[torch.rand(2, 3, frames, 32, 32) * 255],
            data_samples=samples(1, (frames, )))
        assert model.test_step(data)[0].pred_score.shape == (3, )
