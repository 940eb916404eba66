"""TimeSformer_FFN: equal to the stock MMAction2 TimeSformer at every trained
count (a stock TimeSformer of that count holding the branch's norms and time
embedding), initialised and loaded as it is; an untrained count uses the
nearest branch's embedding resampled; MMAction2's own TimeSformer case,
rewritten for the FFN version."""
import re

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.models import TimeSformer
from mmaction.models.common import (DividedSpatialAttentionWithNorm,
                                    DividedTemporalAttentionWithNorm,
                                    FFNWithNorm)
from mmaction.registry import MODELS
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, stock_and_ffn)

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.backbones import (TimeSformer_FFN,
                                    convert_pretrained_state_dict)
from mmffn.models.layers import (RateSpecificModule, RateSpecificTimeEmbedding,
                                 to_static)

COUNTS = (2, 4)
ATTENTIONS = ('divided_space_time', 'space_only', 'joint_space_time')
# 2x2 patches of 16 px, two layers (drop path 0 and 0.1), two heads.
TINY = dict(
    type='TimeSformer',
    num_frames=COUNTS[-1],
    img_size=32,
    patch_size=16,
    embed_dims=32,
    num_heads=2,
    num_transformer_layers=2)
_BRANCH = re.compile(r'\.branches\.(\d+)(?=\.|$)')


@pytest.fixture(autouse=True)
def mmaction_scope():
    # The stock TimeSformer builds its layers through mmcv's registry, which
    # finds MMAction2's attentions in the 'mmaction' scope only.
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _cfg(attention_type='divided_space_time', **kwargs):
    return dict(TINY, attention_type=attention_type, **kwargs)


def _ffn_cfg(attention_type='divided_space_time', **kwargs):
    return dict(
        _cfg(attention_type, **kwargs),
        type='TimeSformer_FFN',
        num_segments_list=COUNTS)


def _randomise(model, seed):
    """Non-trivial LayerNorm affines and time embeddings (zeros at init), so
    a copy loaded into the wrong place shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if '.norm' in name or name.startswith('norm'):
                param.copy_(
                    torch.rand(param.shape, generator=generator) +
                    0.5 if name.endswith('weight') else
                    torch.randn(param.shape, generator=generator) * 0.1)
            elif name.startswith('time_embed'):
                param.copy_(torch.randn(param.shape, generator=generator))


def _stock_state(ffn, count):
    """The FFN's weights of branch ``count`` under stock keys."""
    state = {}
    for key, value in ffn.state_dict().items():
        match = _BRANCH.search(key)
        if match is None or int(match.group(1)) == count:
            state[_BRANCH.sub('', key)] = value
    return state


def _stock_and_ffn(attention_type='divided_space_time'):
    """A stock TimeSformer (norms and embedding randomised) and the FFN
    filled from it."""
    return stock_and_ffn(
        _cfg(attention_type),
        _ffn_cfg(attention_type),
        randomise=lambda model: _randomise(model, seed=1))


def _pair(attention_type='divided_space_time'):
    """An FFN TimeSformer filled from a stock one, then every per-count copy
    randomised on its own."""
    stock, ffn = _stock_and_ffn(attention_type)
    _randomise(ffn, seed=2)
    return stock, ffn


def _stock_at(ffn, count, attention_type, embedding=None):
    """A stock TimeSformer of ``num_frames=count`` holding the FFN's branch
    ``count`` (or the nearest one with ``embedding`` as time_embed)."""
    stock = MODELS.build(_cfg(attention_type, num_frames=count))
    state = _stock_state(ffn, ffn.branch_for(count))
    if embedding is not None:
        state['time_embed'] = embedding
    stock.load_state_dict(state)
    return stock


def _resampled(embedding, length):
    """Linear resampling in time, ends kept: the documented rule, written
    out for the tests."""
    return F.interpolate(
        embedding.transpose(1, 2),
        size=length,
        mode='linear',
        align_corners=True).transpose(1, 2)


def _resampled_time(key, expected, value):
    """The stock ``expected`` for ``key``, its time embedding resampled to
    the copy's count."""
    if key.startswith('time_embed.'):
        return _resampled(expected, value.shape[1])
    return expected


@pytest.mark.parametrize('attention_type', ATTENTIONS)
@pytest.mark.parametrize('count', COUNTS)
def test_equals_the_stock_backbone_at_every_count(attention_type, count):
    """Against a stock TimeSformer of ``count`` frames holding the branch;
    the active time embedding gets a gradient."""
    _, ffn = _pair(attention_type)
    stock = _stock_at(ffn, count, attention_type)
    assert_equal_to_stock_at(stock, ffn, count, grad_atol=1e-5)
    if attention_type != 'space_only':
        assert ffn.time_embed.branches[str(count)].grad.abs().sum() > 0


@pytest.mark.parametrize('attention_type', ATTENTIONS)
def test_stock_count_is_exactly_the_stock_model(attention_type):
    """At ``num_frames`` the FFN filled from a stock TimeSformer is that
    model, its embedding untouched."""
    stock, ffn = _stock_and_ffn(attention_type)
    stock.eval()
    ffn.eval()
    x = torch.randn(2, 3, TINY['num_frames'], 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ffn(x), stock(x), atol=0, rtol=0)


@pytest.mark.parametrize('attention_type', ATTENTIONS)
@pytest.mark.parametrize('frames', [1, 3, 6])
def test_untrained_count_uses_the_nearest_branch_resampled(
        attention_type, frames):
    """1 -> branch 2, 3 -> branch 4 (ties up), 6 -> branch 4; the branch's
    embedding resampled to ``frames`` by hand gives the same outputs, and
    its gradient reaches the branch."""
    _, ffn = _pair(attention_type)
    branch = ffn.branch_for(frames)
    assert branch == {1: 2, 3: 4, 6: 4}[frames]
    embedding = None
    if attention_type != 'space_only':
        embedding = _resampled(ffn.time_embed.branches[str(branch)].detach(),
                               frames)
    stock = _stock_at(ffn, frames, attention_type, embedding)
    stock.eval()
    ffn.eval()
    x = torch.randn(2, 3, frames, 32, 32)
    with ffn.frame_count(frames):
        got = ffn(x)
    torch.testing.assert_close(got, stock(x), atol=1e-5, rtol=0)
    if attention_type != 'space_only':
        got.sum().backward()
        other = [c for c in COUNTS if c != branch][0]
        assert ffn.time_embed.branches[str(branch)].grad.abs().sum() > 0
        assert ffn.time_embed.branches[str(other)].grad is None


def test_no_clip_depends_on_another_clip():
    assert_no_clip_depends_on_another(_pair()[1], 2)


@pytest.mark.parametrize('attention_type', ATTENTIONS)
def test_structure_norms_embeddings_and_keys(attention_type):
    _, ffn = _pair(attention_type)
    layer_norms = [
        m for m in ffn.modules() if isinstance(m, RateSpecificModule)
        and isinstance(m.branch(), nn.LayerNorm)
    ]
    copies = {id(c) for n in layer_norms for c in n.branches.values()}
    plain = [
        m for m in ffn.modules()
        if isinstance(m, nn.LayerNorm) and id(m) not in copies
    ]
    assert not plain  # every norm is per count
    # Per layer: the pre-norms of the two attentions and the FFN (divided)
    # or the layer's two norms; then the final norm.
    per_layer = 3 if attention_type == 'divided_space_time' else 2
    assert len(layer_norms) == 2 * per_layer + 1
    state = ffn.state_dict()
    assert 'norm.branches.2.weight' in state
    assert 'patch_embed.projection.weight' in state  # shared
    if attention_type == 'divided_space_time':
        assert ('transformer_layers.layers.1.attentions.0.norm.branches.4.'
                'bias') in state
        assert 'transformer_layers.layers.0.ffns.0.norm.branches.2.weight' \
            in state
    else:
        assert 'transformer_layers.layers.0.norms.1.branches.2.weight' \
            in state
    if attention_type == 'space_only':
        assert not hasattr(ffn, 'time_embed')
        assert not [k for k in state if 'time_embed' in k]
    else:
        assert isinstance(ffn.time_embed, RateSpecificTimeEmbedding)
        for count in COUNTS:
            assert state[f'time_embed.branches.{count}'].shape == (1, count,
                                                                   32)
        assert not [
            k for k in state
            if k.startswith('time_embed.branches.') and k.count('.') > 2
        ]


def test_embedding_copies_are_per_count():
    """Changing the 2-frame embedding changes the output at 2 frames only;
    the 4-frame model's count follows into the divided attentions."""
    _, ffn = _pair()
    ffn.eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        with ffn.frame_count(2):
            before_2 = ffn(x[:, :, :2])
            assert ffn.num_frames == 2
            assert ffn.transformer_layers.layers[0].attentions[0]. \
                num_frames == 2
        with ffn.frame_count(4):
            before_4 = ffn(x)
        # Not a constant: pre-norms and the final norm remove one.
        ffn.time_embed.branches['2'].add_(torch.randn(1, 2, 32))
        with ffn.frame_count(2):
            after_2 = ffn(x[:, :, :2])
        with ffn.frame_count(4):
            after_4 = ffn(x)
    assert not torch.allclose(before_2, after_2, atol=1e-3)
    torch.testing.assert_close(after_4, before_4, atol=0, rtol=0)
    assert ffn.num_frames == 4


@pytest.mark.parametrize('attention_type', ATTENTIONS)
def test_init_weights_is_the_stock_init_in_every_copy(attention_type):
    """Same seed, same weights; each count's embedding is the stock one
    (zeros at init) resampled."""
    stock, _ = assert_init_equals_stock_init(
        _cfg(attention_type), _ffn_cfg(attention_type), adjust=_resampled_time)
    stock_state = stock.state_dict()
    assert stock_state['pos_embed'].abs().sum() > 0  # drawn, not zeros


@pytest.mark.parametrize('attention_type', ATTENTIONS)
def test_imagenet_pretrained_is_loaded_as_the_stock_loads_it(
        tmp_path, attention_type):
    """An ImageNet ViT (no time embedding) goes through the stock
    init_weights (for divided attention it copies the spatial attention into
    the temporal one), then into every copy, the embedding resampled."""
    torch.manual_seed(0)
    source = MODELS.build(_cfg(attention_type))
    _randomise(source, seed=4)
    vit = {k: v for k, v in source.state_dict().items() if k != 'time_embed'}
    path = str(tmp_path / 'vit.pth')
    torch.save(dict(state_dict=vit), path)
    _, ffn = assert_init_equals_stock_init(
        _cfg(attention_type, pretrained=path),
        _ffn_cfg(attention_type, pretrained=path),
        adjust=_resampled_time)
    assert torch.equal(ffn.norm.branch(2).weight, source.norm.weight)


@pytest.mark.parametrize('attention_type', ATTENTIONS)
def test_timesformer_pretrained_fills_every_copy(tmp_path, attention_type):
    """A TimeSformer checkpoint as ``pretrained`` is loaded as it is (its
    spatial attentions kept, unlike the stock conversion): at its own count
    the FFN is that model."""
    torch.manual_seed(0)
    source = MODELS.build(_cfg(attention_type))
    _randomise(source, seed=4)
    path = str(tmp_path / 'timesformer.pth')
    torch.save(dict(state_dict=source.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(attention_type, pretrained=path))
    ffn.init_weights()
    for key, value in _stock_state(ffn, 4).items():
        assert torch.equal(value, source.state_dict()[key]), key


@pytest.mark.parametrize('recognizer', [False, True])
def test_stock_checkpoint_fills_every_count(tmp_path, recognizer):
    """A stock TimeSformer of 4 frames into counts 2, 4 and 8: the norms in
    every copy, the embedding as is at 4 and resampled (down and up) at 2
    and 8."""
    torch.manual_seed(0)
    stock = MODELS.build(_cfg())
    _randomise(stock, seed=1)
    state = stock.state_dict()
    if recognizer:
        state = {f'backbone.{k}': v for k, v in state.items()}
        state['cls_head.fc_cls.weight'] = torch.zeros(5, 32)
    path = str(tmp_path / 'timesformer.pth')
    torch.save(dict(state_dict=state), path)
    ffn = MODELS.build(
        dict(_ffn_cfg(), num_segments_list=(2, 4, 8), num_frames=4))
    result = ffn.load_pretrained(path)
    assert not result.optional_missing and not result.unexpected
    embed = stock.time_embed.detach()
    got = ffn.state_dict()
    assert torch.equal(got['time_embed.branches.4'], embed)
    torch.testing.assert_close(got['time_embed.branches.2'],
                               embed[:, [0, 3]])  # the ends, kept
    torch.testing.assert_close(got['time_embed.branches.8'],
                               _resampled(embed, 8))
    for count in (2, 4, 8):
        torch.testing.assert_close(
            got[f'transformer_layers.layers.1.attentions.1.norm.branches.'
                f'{count}.weight'],
            stock.state_dict()
            ['transformer_layers.layers.1.attentions.1.norm.weight'])


def test_ffn_checkpoint_fills_each_count_from_its_own(tmp_path):
    _, ffn = _pair()
    path = str(tmp_path / 'timesformer_ffn.pth')
    torch.save(dict(state_dict=ffn.state_dict()), path)
    loaded = MODELS.build(_ffn_cfg())
    loaded.load_pretrained(path)
    for key, value in ffn.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_an_embedding_of_another_width_is_not_resized():
    """Only the count axis of the time embedding is resampled: a checkpoint
    of another width reports the embedding as mismatched."""
    wide = MODELS.build(_cfg(embed_dims=64))
    ffn = MODELS.build(_ffn_cfg())
    result = convert_pretrained_state_dict(
        wide.state_dict(), ffn.state_dict(), resize=ffn._resize_pretrained)
    assert [m for m in result.mismatched if m.startswith('time_embed.')] == [
        'time_embed.branches.2: (1, 4, 64) in checkpoint vs (1, 2, 32) in '
        'model', 'time_embed.branches.4: (1, 4, 64) in checkpoint vs (1, 4, '
        '32) in model'
    ]


def test_to_static_is_the_stock_parameter():
    _, ffn = _pair()
    static = to_static(ffn, 2)
    assert isinstance(static.time_embed, nn.Parameter)
    assert torch.equal(static.time_embed, ffn.time_embed.branches['2'])
    assert isinstance(static.norm, nn.LayerNorm)


def test_parameter_overhead():
    ffn = MODELS.build(_ffn_cfg())
    overhead = ffn.parameter_overhead()
    # Two LayerNorm copies of 2 * 32 beyond one: 3 per layer, 2 layers, and
    # the final norm; a 2-frame embedding beyond the stock 4-frame one.
    assert overhead == dict(
        rate_specific_norm=7 * 64,
        weight_alteration=0,
        time_embedding=2 * 32,
        total=7 * 64 + 2 * 32)


def test_wrong_arguments_and_inputs_are_refused():
    with pytest.raises(ValueError, match='weight_alteration=False'):
        MODELS.build(_ffn_cfg(weight_alteration=True))
    with pytest.raises(ValueError, match='num_frames'):
        MODELS.build(_ffn_cfg(num_frames=0))
    ffn = MODELS.build(_ffn_cfg())
    with pytest.raises(ValueError, match=r'\(N, C, 4, H, W\)'):
        ffn(torch.randn(1, 3, 2, 32, 32))
    with pytest.raises(ValueError, match='expects clips'):
        ffn(torch.randn(2, 3, 32, 32))
    strict = MODELS.build(dict(_ffn_cfg(), branch_policy='strict'))
    with pytest.raises(ValueError, match='strict'):
        with strict.frame_count(3):
            pass


def test_mmaction_timesformer_case():
    """MMAction2's test_timesformer_backbone at tiny sizes, each variant
    against the stock model of the same seed."""
    x = torch.randn(1, 3, 4, 32, 32)
    for attention_type in ATTENTIONS:
        ffn = TimeSformer_FFN(
            num_segments_list=COUNTS,
            img_size=32,
            patch_size=8 if attention_type == 'joint_space_time' else 16,
            embed_dims=32,
            num_heads=2,
            num_transformer_layers=2,
            attention_type=attention_type)
        torch.manual_seed(0)  # the stock twin draws from here
        ffn.init_weights()
        layer = ffn.transformer_layers.layers[0]
        if attention_type == 'divided_space_time':
            assert isinstance(layer.attentions[0],
                              DividedTemporalAttentionWithNorm)
            assert isinstance(ffn.transformer_layers.layers[1].attentions[1],
                              DividedSpatialAttentionWithNorm)
            assert isinstance(layer.ffns[0], FFNWithNorm)
        assert hasattr(ffn, 'time_embed') == (attention_type != 'space_only')
        assert ffn.patch_embed.num_patches == (16 if attention_type
                                               == 'joint_space_time' else 4)
        ffn.eval()
        with torch.no_grad():
            cls_tokens = ffn(x)
        assert cls_tokens.shape == torch.Size([1, 32])
        torch.manual_seed(0)
        stock = TimeSformer(
            4,
            32,
            8 if attention_type == 'joint_space_time' else 16,
            embed_dims=32,
            num_heads=2,
            num_transformer_layers=2,
            attention_type=attention_type)
        stock.init_weights()
        stock.eval()
        with torch.no_grad():
            torch.testing.assert_close(cls_tokens, stock(x), atol=1e-5, rtol=0)
    with pytest.raises(AssertionError):
        # unsupported attention type
        TimeSformer_FFN(
            num_segments_list=COUNTS,
            img_size=32,
            patch_size=16,
            attention_type='wrong_attention_type')
    with pytest.raises(AssertionError):
        # wrong transformer_layers type
        TimeSformer_FFN(
            num_segments_list=COUNTS,
            img_size=32,
            patch_size=16,
            transformer_layers='wrong_type')


@pytest.mark.parametrize('counts', [(4, 8, 16), (8, 16), (4, 16), (9, 10)])
@pytest.mark.parametrize('num_frames', [None, 8])
def test_any_counts_build_and_switch(counts, num_frames):
    """Counts whose string order is not their order ('16' < '4', '10' <
    '9') build and switch, with the default ``num_frames`` (the highest
    count) and a stock recipe's ``num_frames=8``; at a trained count equal
    to ``num_frames`` the FFN is the stock model."""
    frames = dict(num_frames=num_frames) if num_frames else {}
    stock_cfg = dict(_cfg(), **frames)
    stock_cfg.setdefault('num_frames', counts[-1])
    stock, ffn = stock_and_ffn(
        stock_cfg,
        dict(
            _cfg(), type='TimeSformer_FFN', num_segments_list=counts,
            **frames),
        randomise=lambda model: _randomise(model, seed=1))
    assert ffn.time_embed.frame_counts == counts
    assert ffn._stock_value('num_frames') == stock_cfg['num_frames']
    assert [k for k in ffn.state_dict() if k.startswith('time_embed.')
            ] == [f'time_embed.branches.{c}' for c in counts]
    ffn.eval()
    stock.eval()
    for count in counts + (counts[0] + 1, ):
        with torch.no_grad(), ffn.frame_count(count) as branch:
            out = ffn(torch.randn(1, 3, count, 32, 32))
        assert branch == ffn.branch_for(count)
        assert ffn.time_embed.active == counts[-1]  # restored on exit
        assert out.shape == (1, 32)
    if stock_cfg['num_frames'] in counts:
        x = torch.randn(2, 3, stock_cfg['num_frames'], 32, 32)
        with torch.no_grad(), ffn.frame_count(stock_cfg['num_frames']):
            torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)
