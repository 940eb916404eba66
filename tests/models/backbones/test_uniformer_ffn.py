"""UniFormer_FFN: equal to the stock MMAction2 UniFormer (v1) at every
trained count, initialised as it is; per-count BatchNorms and LayerNorms;
MMAction2's own UniFormer case, rewritten for the FFN version."""
import pytest
import torch
import torch.nn as nn
from mmaction.models import UniFormer
from mmaction.registry import MODELS
from shared_builders import (assert_equal_to_stock_at_every_count,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another,
                             randomise_norms, stock_and_ffn)
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.layers import (RateSpecificBatchNorm, RateSpecificModule,
                                 WeightAlteredConv3d)

COUNTS = (2, 4)
# Two CBlock stages and two SABlock stages of one block each; 1, 2, 4 and 4
# heads of 16 channels.
TINY = dict(
    type='UniFormer',
    depth=[1, 1, 1, 1],
    embed_dim=[16, 32, 64, 64],
    head_dim=16,
    pretrained=None,
    pretrained2d=False)


def _ffn_cfg(cfg=TINY, **kwargs):
    return dict(cfg, type='UniFormer_FFN', num_segments_list=COUNTS, **kwargs)


def _randomise_layer_norms(model, seed=1):
    """Non-trivial LayerNorm affine values (``randomise_norms`` does the
    BatchNorms), so a LayerNorm copy loaded into the wrong place shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                n = module.weight.numel()
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def _randomise(model):
    """Random BatchNorms and LayerNorms."""
    _randomise_layer_norms(randomise_norms(model))


def _pair(stock_cfg=TINY):
    return stock_and_ffn(stock_cfg, _ffn_cfg(stock_cfg), randomise=_randomise)


def test_equals_the_stock_backbone_at_every_count():
    """Inactive copies, LayerNorms included, are untouched and get no
    gradient; LayerNorm gradients are among those compared."""
    stock, ffn = _pair()
    compared = assert_equal_to_stock_at_every_count(stock, ffn, COUNTS)
    for keys in compared.values():
        assert any('.norm' in k and ffn.get_parameter(k).dim() == 1
                   for k in keys)


def test_no_clip_depends_on_another_clip():
    assert_no_clip_depends_on_another(_pair()[1], 2)


def test_structure_norms_adapters_and_keys():
    _, ffn = _pair()
    batch_norms = [
        m for m in ffn.modules() if isinstance(m, RateSpecificBatchNorm)
    ]
    layer_norms = [
        m for m in ffn.modules() if isinstance(m, RateSpecificModule)
        and isinstance(m.branch(), nn.LayerNorm)
    ]
    copies = [
        id(c) for n in batch_norms + layer_norms for c in n.branches.values()
    ]
    plain = [
        m for m in ffn.modules()
        if isinstance(m, (_BatchNorm, nn.LayerNorm)) and id(m) not in copies
    ]
    assert not plain  # every norm is per count
    # norm1/norm2 of the two CBlocks and the final norm.
    assert len(batch_norms) == 2 * 2 + 1
    # The four patch embeddings, norm1/norm2 of the two SABlocks.
    assert len(layer_norms) == 4 + 2 * 2
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv3d)]
    assert len(adapters) == 4  # one per block, on the depthwise pos_embed
    assert all(a.groups == a.in_channels for a in adapters)
    keys = set(ffn.state_dict())
    for key in ('blocks1.0.pos_embed.alteration.2.weight',
                'blocks3.0.pos_embed.alteration.4.weight',
                'blocks2.0.norm2.branches.2.running_mean',
                'blocks3.0.norm1.branches.2.weight',
                'blocks4.0.norm2.branches.4.bias',
                'patch_embed1.norm.branches.2.weight',
                'norm.branches.4.running_var', 'blocks3.0.attn.qkv.weight'):
        assert key in keys, key
    # Adapters change the function: the equality test above can fail.
    x = torch.randn(1, 3, 4, 32, 32)
    ffn.eval()
    with torch.no_grad(), ffn.frame_count(4):
        zero = ffn(x)
        for module in adapters:
            module.reset_alteration(0.1)
        altered = ffn(x)
    assert not torch.allclose(zero, altered, atol=1e-3)


def test_layer_norm_copies_are_per_count():
    """Changing the 2-frame copy of an attention block's LayerNorm changes
    the output at 2 frames only."""
    _, ffn = _pair()
    ffn.eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        with ffn.frame_count(2):
            before_2 = ffn(x[:, :, :2])
        with ffn.frame_count(4):
            before_4 = ffn(x)
        ffn.blocks3[0].norm1.branch(2).weight.mul_(3)
        with ffn.frame_count(2):
            after_2 = ffn(x[:, :, :2])
        with ffn.frame_count(4):
            after_4 = ffn(x)
    assert not torch.allclose(before_2, after_2, atol=1e-3)
    torch.testing.assert_close(after_4, before_4, atol=0, rtol=0)


@pytest.mark.parametrize('pretrained2d', [True, False])
def test_init_weights_is_the_stock_init_in_every_copy(pretrained2d):
    """pretrained2d=True with pretrained=None (the stock default) keeps
    PyTorch's default init; pretrained2d=False applies the stock init_cfg
    (truncated-normal Linear, constant LayerNorm)."""
    cfg = dict(TINY, pretrained2d=pretrained2d)
    _, ffn = assert_init_equals_stock_init(cfg, _ffn_cfg(cfg))
    qkv_bias = ffn.state_dict()['blocks3.0.attn.qkv.bias']
    assert qkv_bias.any() == pretrained2d  # init_cfg zeroes Linear biases


def test_checkpoint_fills_every_copy(tmp_path):
    stock, _ = _pair()
    path = str(tmp_path / 'uniformer.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(pretrained=path))
    ffn.init_weights()
    state = ffn.state_dict()
    stock_state = stock.state_dict()
    for count in COUNTS:
        for key in ('blocks2.0.norm1.running_var', 'blocks4.0.norm1.weight',
                    'patch_embed3.norm.bias', 'norm.running_mean'):
            module, leaf = key.rsplit('.', 1)
            torch.testing.assert_close(
                state[f'{module}.branches.{count}.{leaf}'], stock_state[key])


@pytest.mark.parametrize('frames', [1, 3, 5])
def test_any_count_runs_odd_ones_included(frames):
    """Every count >= 1 is valid: the stem halves the frames, rounding up
    (one zero-padded frame for odd counts), as the stock does; untrained
    counts use the nearest branch."""
    stock, ffn = _pair()
    stock.eval()
    ffn.eval()
    x = torch.randn(1, 3, frames, 32, 32)
    with torch.no_grad(), ffn.frame_count(frames):
        feat = ffn(x)
        expected = stock(x)
    assert feat.shape == (1, 64, (frames + 1) // 2, 1, 1)
    torch.testing.assert_close(feat, expected, atol=1e-5, rtol=0)


# --- MMAction2's test_uniformer.py, for the FFN version ---------------------
def test_feature_shape_of_mmaction_test():
    """16 frames of 64 px with stochastic depth: (1, C, 8, 2, 2), the stock
    features in eval mode."""
    cfg = dict(TINY, depth=[1, 2, 2, 1], drop_path_rate=0.1)
    stock, ffn = _pair(cfg)
    stock.eval()
    ffn.eval()
    x = torch.randn(1, 3, 16, 64, 64)
    with torch.no_grad(), ffn.frame_count(16) as branch:
        assert branch == 4
        feat = ffn(x)
        expected = stock(x)
    assert feat.shape == (1, 64, 8, 2, 2)
    torch.testing.assert_close(feat, expected, atol=1e-5, rtol=0)


def test_input_of_another_length_and_bad_counts_are_refused():
    _, ffn = _pair()
    with ffn.frame_count(4), pytest.raises(
            ValueError,
            match=r'\(N, C, 4, H, W\) at 4 frames, got \(1, 3, 2, 32, 32\)'):
        ffn(torch.randn(1, 3, 2, 32, 32))
    with pytest.raises(ValueError, match='must be a positive int, got 0'):
        with ffn.frame_count(0):
            pass
    strict = MODELS.build(_ffn_cfg(branch_policy='strict'))
    with pytest.raises(ValueError, match='3 frames were not trained'):
        with strict.frame_count(3):
            pass
    assert isinstance(ffn, UniFormer)
