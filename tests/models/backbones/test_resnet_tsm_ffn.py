"""ResNetTSM_FFN: structure, frame counts, equivalence with ResNetTSM."""
import re

import pytest
import torch
from mmaction.models import ResNetTSM
from mmaction.models.backbones.resnet_tsm import TemporalShift
from mmaction.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.backbones import ResNetTSM_FFN, convert_pretrained_state_dict
from mmffn.models.layers import RateSpecificBatchNorm, WeightAlteredConv2d

SIZE = 32  # tiny frames: ResNet's stride 32 leaves a 1x1 map
COUNTS = (4, 8, 16)


def _frames(num_videos, num_frames, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(
        num_videos * num_frames, 3, SIZE, SIZE, generator=generator)


def _load_from(ffn, state_dict):
    result = convert_pretrained_state_dict(state_dict, ffn.state_dict())
    assert not result.missing and not result.mismatched
    ffn.load_state_dict(result.state_dict, strict=False)


def _zero_adapters(ffn):
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.0)


def _branch_of(name):
    match = re.search(r'\.(branches|alteration)\.(\d+)\.', name)
    return int(match.group(2)) if match else None


# --- equivalence with MMAction2's ResNetTSM ----------------------------------
@pytest.mark.parametrize('depth,weight_alteration', [(18, False), (18, True),
                                                     (50, True)])
def test_matches_mmaction_resnet_tsm_at_every_count(depth, weight_alteration,
                                                    randomise_norms):
    torch.manual_seed(0)
    ffn = ResNetTSM_FFN(
        depth, num_segments_list=COUNTS,
        weight_alteration=weight_alteration).eval()
    reference_state = None
    for count in COUNTS:
        reference = ResNetTSM(depth, num_segments=count, pretrained2d=False)
        if reference_state is None:
            reference.init_weights()
            randomise_norms(reference)
            reference_state = reference.state_dict()
            _load_from(ffn, reference_state)
            _zero_adapters(ffn)
        reference.load_state_dict(reference_state)
        reference.eval()
        x = _frames(2, count)
        with torch.no_grad(), ffn.frame_count(count) as branch:
            assert branch == count
            out = ffn(x)
            expected = reference(x)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    # Outside a context the backbone runs at its default count (16).
    with torch.no_grad():
        torch.testing.assert_close(ffn(x), expected, atol=1e-5, rtol=0)
    # With adapters switched on the function changes (the test can fail).
    if weight_alteration:
        for module in ffn.modules():
            if isinstance(module, WeightAlteredConv2d):
                module.reset_alteration(0.1)
        with torch.no_grad():
            assert not torch.allclose(ffn(x), expected, atol=1e-3)


def test_single_count_behaves_like_resnet_tsm(randomise_norms):
    torch.manual_seed(0)
    reference = ResNetTSM(18, num_segments=8, pretrained2d=False)
    reference.init_weights()
    randomise_norms(reference).eval()
    ffn = ResNetTSM_FFN(18, num_segments_list=(8, )).eval()
    assert ffn.num_segments == 8
    _load_from(ffn, reference.state_dict())
    _zero_adapters(ffn)
    x = _frames(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(ffn(x), reference(x), atol=1e-5, rtol=0)


def test_shared_conv_keys_are_those_of_resnet_tsm():
    ffn_keys = set(ResNetTSM_FFN(18).state_dict())
    tsm_keys = set(ResNetTSM(18, pretrained2d=False).state_dict())
    bn_key = re.compile(r'\.bn\.')
    assert {k
            for k in tsm_keys if not bn_key.search(k)} == {
                k
                for k in ffn_keys
                if not bn_key.search(k) and '.alteration.' not in k
            }
    assert 'layer1.0.conv1.conv.net.weight' in ffn_keys
    assert 'layer1.0.conv1.conv.net.alteration.16.weight' in ffn_keys
    assert 'layer1.0.conv1.bn.branches.16.running_mean' in ffn_keys
    assert 'layer1.0.conv1.bn.running_mean' not in ffn_keys


# --- temporal modules see whole clips ----------------------------------------
# (MMAction2's own ResNetTSM cases run in tests/mmaction_parity/.)
def _tsm50(**kwargs):
    kwargs.setdefault('num_segments_list', (8, ))
    return ResNetTSM_FFN(50, **kwargs)


NON_LOCAL_CFG = dict(
    sub_sample=True,
    use_scale=False,
    norm_cfg=dict(type='BN3d', requires_grad=True),
    mode='embedded_gaussian')
NON_LOCAL = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))


def test_non_local_after_temporal_pool_keeps_videos_apart():
    backbone = _tsm50(
        non_local=NON_LOCAL, non_local_cfg=NON_LOCAL_CFG, temporal_pool=True)
    backbone.init_weights()
    backbone.eval()
    x = _frames(2, 8)
    with torch.no_grad():
        feat = backbone(x)
        assert feat.shape == (8, 2048, 1, 1)
        # After the pool each video has 4 frames; the non-local blocks must
        # attend within a video. (ResNetTSM keeps 8 there, which groups the
        # two pooled videos together.)
        assert backbone.layer2.net[0].num_segments == 4
        y = x.clone()
        y[8:] = _frames(1, 8, seed=1)
        torch.testing.assert_close(backbone(y)[:4], feat[:4])


# --- training-mode options ---------------------------------------------------
def test_norm_eval_freezes_every_copy():
    backbone = ResNetTSM_FFN(18, norm_eval=True)
    backbone.train()
    norms = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) == 20 * len(COUNTS)  # R18 has 20 BatchNorms
    assert not any(m.training for m in norms)
    before = backbone.conv1.bn.branch(16).running_mean.clone()
    backbone(_frames(1, 16))
    assert torch.equal(backbone.conv1.bn.branch(16).running_mean, before)


def test_frozen_stages_reach_copies_and_adapters():
    backbone = ResNetTSM_FFN(18, frozen_stages=1)
    backbone.train()
    for name, param in backbone.named_parameters():
        frozen = name.startswith(('conv1.', 'layer1.'))
        assert param.requires_grad != frozen, name
    assert not any(m.training for m in backbone.layer1.modules())
    assert not any(bn.training for bn in backbone.conv1.bn.branches.values())
    assert backbone.layer2[0].conv1.bn.branch(4).training


def test_adapters_where_blocks_are_not_shifted():
    # R101 shifts every other block of layer3 (ResNetTSM's n_round=2).
    backbone = ResNetTSM_FFN(101, num_segments_list=(8, ))
    for i, block in enumerate(backbone.layer3):
        conv = block.conv1.conv
        if i % 2 == 0:
            assert isinstance(conv, TemporalShift)
            assert isinstance(conv.net, WeightAlteredConv2d)
        else:
            assert isinstance(conv, WeightAlteredConv2d)
    unshifted = ResNetTSM_FFN(18, is_shift=False)
    assert not any(isinstance(m, TemporalShift) for m in unshifted.modules())
    assert sum(
        isinstance(m, WeightAlteredConv2d)
        for m in unshifted.modules()) == 8  # one per block
    plain = ResNetTSM_FFN(18, weight_alteration=False)
    assert not any(isinstance(m, WeightAlteredConv2d) for m in plain.modules())
    assert plain.parameter_overhead()['weight_alteration'] == 0


# --- frame counts ------------------------------------------------------------
@pytest.fixture(scope='module')
def r18():
    torch.manual_seed(0)
    backbone = ResNetTSM_FFN(18, num_segments_list=COUNTS)
    backbone.init_weights()
    for module in backbone.modules():
        # Large adapters make the branches clearly different functions.
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.1)
    return backbone.eval()


@pytest.mark.parametrize('count', COUNTS)
def test_each_branch_keeps_videos_apart_and_models_time(r18, count):
    x = _frames(2, count)
    changed_b = x.clone()
    changed_b[count:] = _frames(1, count, seed=1)
    reverse_a = torch.cat(
        [torch.arange(count).flip(0),
         torch.arange(count, 2 * count)])
    with torch.no_grad():
        with r18.frame_count(count):
            out = r18(x)
            out_changed_b = r18(changed_b)
            out_reversed_a = r18(x[reverse_a])[reverse_a]
        # Negative control: one 2T-frame clip spans both videos, so a
        # shift with the wrong count leaks video B into video A.
        with r18.frame_count(2 * count):
            mixed = r18(x)
            mixed_changed_b = r18(changed_b)
    torch.testing.assert_close(out_changed_b[:count], out[:count])
    assert not torch.allclose(out_changed_b[count:], out[count:])
    assert not torch.allclose(out_reversed_a[:count], out[:count], atol=1e-4)
    torch.testing.assert_close(out_reversed_a[count:], out[count:])
    assert not torch.allclose(mixed_changed_b[:count], mixed[:count])


def test_branches_are_different_functions(r18):
    x = _frames(1, 8)
    with torch.no_grad():
        with r18.frame_count(8):
            out8 = r18(x)
        with r18.frame_count(16):  # same frames, 16's BN copies/adapters
            out16 = r18(torch.cat([x, x]))[:8]
    assert not torch.allclose(out8, out16, atol=1e-3)


@pytest.mark.parametrize('count', COUNTS)
def test_only_the_active_branch_learns(count):
    torch.manual_seed(0)
    backbone = ResNetTSM_FFN(18, num_segments_list=COUNTS)
    backbone.init_weights()
    backbone.train()
    stats = {
        k: v.clone()
        for k, v in backbone.state_dict().items()
        if 'running_' in k or 'num_batches_tracked' in k
    }
    with backbone.frame_count(count):
        out = backbone(_frames(2, count))
    # Backward after the context, as a recognizer summing branch losses.
    (out * torch.randn_like(out)).sum().backward()
    for name, param in backbone.named_parameters():
        branch = _branch_of(name)
        if branch in (None, count):
            assert param.grad is not None and param.grad.abs().sum() > 0, name
        else:
            assert param.grad is None or not param.grad.any(), name
    state = backbone.state_dict()
    for name, before in stats.items():
        if _branch_of(name) == count:
            if 'running_mean' in name or 'num_batches' in name:
                assert not torch.equal(state[name], before), name
        else:
            assert torch.equal(state[name], before), name


def test_nearest_policy_and_real_count_in_temporal_modules(r18):
    mapping = {n: r18.branch_for(n) for n in (1, 2, 4, 6, 8, 12, 16, 20, 64)}
    assert mapping == {
        1: 4,
        2: 4,
        4: 4,
        6: 8,
        8: 8,
        12: 16,
        16: 16,
        20: 16,
        64: 16
    }
    seen_segments, seen_branches = set(), set()
    hooks = [
        m.register_forward_pre_hook(
            lambda mod, args: seen_segments.add(mod.num_segments))
        for m in r18.modules() if isinstance(m, TemporalShift)
    ] + [
        m.register_forward_pre_hook(
            lambda mod, args: seen_branches.add(mod.active))
        for m in r18.modules()
        if isinstance(m, (RateSpecificBatchNorm, WeightAlteredConv2d))
    ]
    try:
        with torch.no_grad(), r18.frame_count(6) as branch:
            assert branch == 8 and r18.active_frame_count == 6
            r18(_frames(2, 6))
    finally:
        for hook in hooks:
            hook.remove()
    assert seen_segments == {6}
    assert seen_branches == {8}
    # Restored on exit.
    assert r18.active_frame_count == 16
    assert {
        m.num_segments
        for m in r18.modules() if isinstance(m, TemporalShift)
    } == {16}
    assert r18.conv1.bn.active == 16


def test_contexts_nest_and_restore_after_errors(r18):
    with r18.frame_count(4):
        with r18.frame_count(12):
            assert r18.layer1[0].conv1.conv.num_segments == 12
            assert r18.layer1[0].conv1.bn.active == 16
        assert r18.layer1[0].conv1.conv.num_segments == 4
        assert r18.layer4[1].conv2.bn.active == 4
        with pytest.raises(ValueError, match=r'10 frames.*frame count 4'):
            r18(_frames(1, 10))
    with pytest.raises(RuntimeError):
        with r18.frame_count(8):
            raise RuntimeError
    assert r18.layer1[0].conv1.conv.num_segments == 16
    assert r18.layer1[0].conv1.conv.net.active == 16
    with pytest.raises(ValueError, match='positive int'):
        with r18.frame_count(0):
            pass


def test_strict_policy_refuses_untrained_counts():
    backbone = ResNetTSM_FFN(18, branch_policy='strict')
    assert backbone.branch_for(8) == 8
    with pytest.raises(ValueError, match=r'\b6\b.*\(4, 8, 16\)'):
        backbone.branch_for(6)
    with pytest.raises(ValueError, match=r'\b6\b'):
        with backbone.frame_count(6):
            pass
    assert backbone.layer1[0].conv1.conv.num_segments == 16  # untouched


# --- initialisation and cost -------------------------------------------------
def _adapter_weights(backbone):
    return torch.cat([
        a.weight.flatten() for m in backbone.modules()
        if isinstance(m, WeightAlteredConv2d) for a in m.alteration.values()
    ])


def test_init_weights_keeps_adapters_near_zero():
    torch.manual_seed(0)
    # pretrained=None with ResNetTSM's default pretrained2d=True: no crash.
    backbone = ResNetTSM_FFN(18, pretrained=None)
    backbone.init_weights()
    std = _adapter_weights(backbone).std().item()
    assert 0.5e-3 < std < 2e-3
    # The shared convs did get the Kaiming init.
    assert backbone.layer1[0].conv1.conv.net.weight.std().item() > 1e-2
    backbone.init_weights()
    assert 0.5e-3 < _adapter_weights(backbone).std().item() < 2e-3
    wider = ResNetTSM_FFN(18, alteration_init_std=1e-2)
    wider.init_weights()
    assert 0.5e-2 < _adapter_weights(wider).std().item() < 2e-2


def test_parameter_overhead_on_r50():
    backbone = ResNetTSM_FFN(50, num_segments_list=COUNTS)
    overhead = backbone.parameter_overhead()
    print(f'\nFFN overhead on R50 (4, 8, 16): {overhead}')
    # R50 BatchNorms hold 26,560 channels: 2 more copies x (weight, bias).
    assert overhead['rate_specific_norm'] == 2 * 2 * 26560
    # Block inputs of R50 sum to 13,120 channels; one adapter per count.
    assert overhead['weight_alteration'] == 3 * 13120
    assert 0.14e6 < overhead['total'] < 0.16e6
    tsm = ResNetTSM(50, pretrained2d=False)
    count = sum(p.numel() for p in backbone.parameters())
    assert count - sum(p.numel()
                       for p in tsm.parameters()) == overhead['total']


# --- config ------------------------------------------------------------------
def test_registered_and_accepts_lists():
    backbone = MODELS.build(
        dict(type='ResNetTSM_FFN', depth=18, num_segments_list=[2, 4]))
    assert isinstance(backbone, ResNetTSM_FFN)
    assert backbone.num_segments_list == (2, 4)
    assert backbone.num_segments == 4


@pytest.mark.parametrize('kwargs,text', [
    (dict(num_segments_list=(16, 8, 4)), 'num_segments_list'),
    (dict(num_segments_list=(16, 8, 4)), '(16, 8, 4)'),
    (dict(num_segments_list=(4, 4, 8)), '(4, 4, 8)'),
    (dict(num_segments_list=(0, 8)), 'got 0'),
    (dict(num_segments_list=(-4, 8)), 'got -4'),
    (dict(num_segments_list=(4.5, 8)), 'got 4.5'),
    (dict(num_segments_list=()), 'empty'),
    (dict(num_segments_list=8), 'got 8'),
    (dict(branch_policy='closest'), "'closest'"),
    (dict(alteration_init_std=-1e-3), '-0.001'),
    (dict(num_segments=0), 'num_segments must be a positive int, got 0'),
    (dict(num_segments=6, branch_policy='strict'), '6 frames'),
    (dict(temporal_pool=True, num_segments_list=(3, 8)), 'got 3'),
])
def test_bad_config_values_are_named(kwargs, text):
    with pytest.raises(ValueError, match=re.escape(text)):
        ResNetTSM_FFN(18, **kwargs)


def test_with_cp_is_refused():
    with pytest.raises(NotImplementedError, match='with_cp'):
        ResNetTSM_FFN(50, with_cp=True)
