"""X3D_FFN: equal to the stock MMAction2 X3D at every trained count,
initialised as it is; MMAction2's own X3D cases, rewritten for the FFN
version."""
import pytest
import torch
from mmaction.models import X3D
from mmaction.registry import MODELS
from mmaction.testing import check_norm_state
from shared_builders import (assert_equal_to_stock_at_every_count,
                             assert_init_equals_stock_init,
                             assert_no_clip_depends_on_another, stock_and_ffn)
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv3d

COUNTS = (2, 4)
# gamma_w=0.25: 8 base channels; gamma_d=0.4: stages of 1, 1, 2, 2 blocks,
# so se_style='half' leaves the second block of a stage without SE.
X3D_S = dict(
    type='X3D', gamma_w=0.25, gamma_b=2.25, gamma_d=0.4, pretrained=None)
CONFIGS = dict(
    half_se=X3D_S,
    all_se_swish=dict(
        X3D_S, gamma_b=1.5, se_style='all', act_cfg=dict(type='Swish')))


def _ffn_cfg(cfg, **kwargs):
    return dict(cfg, type='X3D_FFN', num_segments_list=COUNTS, **kwargs)


def _pair(stock_cfg=X3D_S):
    return stock_and_ffn(stock_cfg, _ffn_cfg(stock_cfg))


@pytest.mark.parametrize('name', list(CONFIGS))
def test_equals_the_stock_backbone_at_every_count(name):
    assert_equal_to_stock_at_every_count(*_pair(CONFIGS[name]), COUNTS)


def test_no_clip_depends_on_another_clip():
    assert_no_clip_depends_on_another(_pair()[1], 2)


def test_structure_norms_adapters_and_keys():
    _, ffn = _pair()
    norms = [m for m in ffn.modules() if isinstance(m, RateSpecificBatchNorm)]
    copies = [id(c) for n in norms for c in n.branches.values()]
    plain = [
        m for m in ffn.modules()
        if isinstance(m, _BatchNorm) and id(m) not in copies
    ]
    assert norms and not plain  # every BatchNorm3d is per count
    # Stem conv1_t, 3 per block (6 blocks), 4 downsamples (every stage
    # has spatial stride 2), conv5.
    assert len(norms) == 1 + 3 * 6 + 4 + 1
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv3d)]
    assert len(adapters) == 6  # one per block, on the 1x1x1 conv1
    assert all(a.kernel_size == (1, 1, 1) and a.groups == 1 for a in adapters)
    keys = set(ffn.state_dict())
    assert 'conv1_t.bn.branches.2.running_mean' in keys
    assert 'layer3.1.conv1.conv.alteration.4.weight' in keys
    assert 'layer1.0.downsample.bn.branches.4.weight' in keys
    assert 'conv5.bn.branches.2.running_var' in keys
    assert 'layer1.0.se_module.fc1.weight' in keys  # shared, stock key
    # Adapters change the function: the equality test above can fail.
    x = torch.randn(1, 3, 4, 32, 32)
    ffn.eval()
    with torch.no_grad(), ffn.frame_count(4):
        zero = ffn(x)
        for module in adapters:
            module.reset_alteration(0.1)
        altered = ffn(x)
    assert not torch.allclose(zero, altered, atol=1e-3)


@pytest.mark.parametrize('zero_init_residual', [True, False])
def test_init_weights_is_the_stock_init_in_every_copy(zero_init_residual):
    """Kaiming convs, constant norms and, with ``zero_init_residual``, a
    zeroed ``conv3.bn`` of every block in every copy (a per-count norm has
    no ``weight`` attribute, so the stock zero-init run on the FFN itself
    silently skips it)."""
    cfg = dict(X3D_S, zero_init_residual=zero_init_residual)
    _, ffn = assert_init_equals_stock_init(cfg, _ffn_cfg(cfg))
    zeroed = [
        k for k, v in ffn.state_dict().items()
        if '.conv3.bn.branches.' in k and k.endswith('weight') and not v.any()
    ]
    assert len(zeroed) == (6 * len(COUNTS) if zero_init_residual else 0)
    # Why the stock twin: X3D's own init_weights misses the copies.
    X3D.init_weights(ffn)
    assert ffn.state_dict()['layer1.0.conv3.bn.branches.2.weight'].all()


def test_checkpoint_fills_every_copy(tmp_path):
    stock, _ = _pair()
    path = str(tmp_path / 'x3d.pth')
    torch.save(dict(state_dict=stock.state_dict()), path)
    ffn = MODELS.build(_ffn_cfg(X3D_S, pretrained=path))
    ffn.init_weights()
    state = ffn.state_dict()
    for count in COUNTS:
        torch.testing.assert_close(
            state[f'layer4.1.conv2.bn.branches.{count}.running_var'],
            stock.state_dict()['layer4.1.conv2.bn.running_var'])


# --- MMAction2's test_x3d.py, for the FFN version ---------------------------
@pytest.mark.parametrize('kwargs', [
    dict(num_stages=0),
    dict(num_stages=5),
    dict(spatial_strides=(1, 2), num_stages=4),
    dict(se_style=None),
    dict(se_style='half', se_ratio=0),
])
def test_stock_argument_checks_still_apply(kwargs):
    with pytest.raises(AssertionError):
        MODELS.build(_ffn_cfg(X3D_S, **kwargs))


@pytest.mark.parametrize('norm_eval', [True, False])
def test_norm_eval_reaches_every_copy(norm_eval):
    ffn = MODELS.build(_ffn_cfg(X3D_S, norm_eval=norm_eval))
    ffn.init_weights()
    assert ffn.train() is ffn  # the stock train() returns None
    assert check_norm_state(ffn.modules(), not norm_eval)


def test_frozen_stages_freeze_every_copy_and_adapter():
    frozen_stages = 1
    ffn = MODELS.build(_ffn_cfg(X3D_S, frozen_stages=frozen_stages))
    ffn.init_weights()
    ffn.train()
    assert all(not bn.training for bn in ffn.conv1_t.bn.branches.values())
    for part in (ffn.conv1_s, ffn.conv1_t):
        assert not any(p.requires_grad for p in part.parameters())
    for i in range(1, frozen_stages + 1):
        layer = getattr(ffn, f'layer{i}')
        assert check_norm_state(layer.modules(), False)
        params = dict(layer.named_parameters())
        assert any('.alteration.' in k for k in params)
        assert not any(p.requires_grad for p in params.values())
    assert check_norm_state(ffn.layer2.modules(), True)
    assert all(p.requires_grad for p in ffn.layer2.parameters())


@pytest.mark.parametrize('frames,size,out_size', [(13, 64, 2), (16, 96, 3)])
def test_feature_shapes_and_values_at_untrained_counts(frames, size, out_size):
    """MMAction2's shapes (13 and 16 frames, no temporal stride) with the
    nearest branch; all copies hold the stock weights, so the values are
    the stock ones."""
    stock, ffn = _pair()
    stock.eval()
    ffn.eval()
    x = torch.randn(1, 3, frames, size, size)
    with torch.no_grad(), ffn.frame_count(frames) as branch:
        assert branch == 4
        feat = ffn(x)
        expected = stock(x)
    assert feat.shape == (1, ffn.feat_dim, frames, out_size, out_size)
    torch.testing.assert_close(feat, expected, atol=1e-5, rtol=0)


def test_input_of_another_length_and_unsupported_options_are_refused():
    _, ffn = _pair()
    with ffn.frame_count(4), pytest.raises(
            ValueError,
            match=r'\(N, C, 4, H, W\) at 4 frames, got \(1, 3, 2, 32, 32\)'):
        ffn(torch.randn(1, 3, 2, 32, 32))
    with pytest.raises(NotImplementedError, match='with_cp'):
        MODELS.build(_ffn_cfg(X3D_S, with_cp=True))
    strict = MODELS.build(_ffn_cfg(X3D_S, branch_policy='strict'))
    with pytest.raises(ValueError, match='3 frames were not trained'):
        with strict.frame_count(3):
            pass
    assert isinstance(ffn, X3D)
