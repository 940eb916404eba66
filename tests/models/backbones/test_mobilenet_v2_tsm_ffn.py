"""MobileNetV2TSM_FFN: equivalence with MobileNetV2TSM at every trained
count, frame counts, training options, pretrained formats, RecognizerFFN."""
import re

import pytest
import torch
import torch.nn as nn
from mmaction.models import MobileNetV2, MobileNetV2TSM
from mmaction.models.backbones.mobilenet_v2 import InvertedResidual
from mmaction.models.backbones.resnet_tsm import TemporalShift
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope
from shared_builders import recognizer_ffn_cfg
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.backbones import (MobileNetV2TSM_FFN,
                                    convert_pretrained_state_dict)
from mmffn.models.layers import (AlterationWeight, RateSpecificBatchNorm,
                                 WeightAlteredConv2d)

SIZE = 32  # tiny frames: MobileNetV2's stride 32 leaves a 1x1 map
_BRANCH = re.compile(r'\.branches\.(\d+)(?=\.|$)')

pytestmark = pytest.mark.usefixtures('one_thread')


def _frames(num_videos, num_frames, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(
        num_videos * num_frames, 3, SIZE, SIZE, generator=generator)


def _stock(num_segments, **kwargs):
    return MobileNetV2TSM(
        num_segments=num_segments, pretrained2d=False, **kwargs)


def _load_from(ffn, state_dict):
    result = convert_pretrained_state_dict(state_dict, ffn.state_dict())
    assert not result.missing and not result.mismatched
    assert not result.unexpected
    ffn.load_state_dict(result.state_dict, strict=False)


def _zero_adapters(ffn, std=0.0):
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(std)


def _stock_and_ffn(counts, randomise_norms, **options):
    """A stock state (random norms) and an FFN backbone holding it in every
    branch, adapters at zero."""
    torch.manual_seed(0)
    stock = _stock(counts[-1], **options)
    stock.init_weights()
    randomise_norms(stock)
    ffn = MobileNetV2TSM_FFN(num_segments_list=counts, **options)
    _load_from(ffn, stock.state_dict())
    _zero_adapters(ffn)
    return stock.state_dict(), ffn


def _stock_name(ffn_name):
    """The stock key of an FFN key (None for adapters); its branch."""
    if '.alteration.' in ffn_name:
        return None, None
    match = _BRANCH.search(ffn_name)
    return _BRANCH.sub('', ffn_name), int(match.group(1)) if match else None


# --- equivalence with MMAction2's MobileNetV2TSM -----------------------------
@pytest.mark.parametrize('counts', [(4, 8), (2, 4, 8)])
def test_matches_stock_at_every_count(counts, randomise_norms):
    state, ffn = _stock_and_ffn(counts, randomise_norms)
    for count in counts:
        stock = _stock(count)
        stock.load_state_dict(state)
        # 8 frames at every count: the same shapes (CPU kernels warm) and
        # several clips where the count is small.
        x = _frames(8 // count, count)
        # Eval mode: running statistics.
        stock.eval()
        ffn.eval()
        with torch.no_grad(), ffn.frame_count(count) as branch:
            assert branch == count
            torch.testing.assert_close(ffn(x), stock(x), atol=1e-5, rtol=0)
        # Train mode: batch statistics, running-stat updates, gradients.
        stock.train()
        ffn.train()
        ffn.zero_grad(set_to_none=True)
        before = {k: v.clone() for k, v in ffn.state_dict().items()}
        with ffn.frame_count(count):
            out = ffn(x)
        expected = stock(x)
        torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
        grad = torch.randn_like(out)
        out.backward(grad)  # after the context, as RecognizerFFN does
        expected.backward(grad)
        stock_params = dict(stock.named_parameters())
        for name, param in ffn.named_parameters():
            stock_name, branch = _stock_name(name)
            if stock_name is None:
                continue
            if branch in (None, count):
                torch.testing.assert_close(
                    param.grad,
                    stock_params[stock_name].grad,
                    atol=1e-5,
                    rtol=1e-4,
                    msg=name)
            else:
                assert param.grad is None or not param.grad.any(), name
        stock_state = stock.state_dict()
        for name, value in ffn.state_dict().items():
            stock_name, branch = _stock_name(name)
            if branch == count:
                torch.testing.assert_close(
                    value, stock_state[stock_name], atol=1e-6, rtol=0)
            elif branch is not None:
                assert torch.equal(value, before[name]), name


def test_adapters_change_the_function(randomise_norms):
    # Negative control of the equivalence: adapters at 0.1 are not stock.
    state, ffn = _stock_and_ffn((4, 8), randomise_norms)
    stock = _stock(8)
    stock.load_state_dict(state)
    stock.eval()  # stock MobileNetV2.train returns None: no chaining
    _zero_adapters(ffn, 0.1)
    x = _frames(1, 8)
    with torch.no_grad():
        assert not torch.allclose(ffn.eval()(x), stock(x), atol=1e-3)


@pytest.mark.parametrize('options', [
    dict(widen_factor=0.5),
    dict(widen_factor=1.5, out_indices=(1, 4, 7)),
    dict(out_indices=(0, 2, 6), is_shift=False),
])
def test_options_match_stock(options, randomise_norms):
    state, ffn = _stock_and_ffn((4, 8), randomise_norms, **options)
    stock = _stock(4, **options)
    stock.load_state_dict(state)
    stock.eval()
    x = _frames(2, 4)
    with torch.no_grad(), ffn.eval().frame_count(4):
        out, expected = ffn(x), stock(x)
    if isinstance(expected, torch.Tensor):
        out, expected = (out, ), (expected, )
    assert len(out) == len(expected)
    for got, want in zip(out, expected):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    if options.get('widen_factor') == 1.5:
        assert out[-1].shape == (8, 1920, 1, 1)


# --- structure ---------------------------------------------------------------
def test_adapter_sites():
    ffn = MobileNetV2TSM_FFN(num_segments_list=(4, 8))
    blocks = [m for m in ffn.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 17
    shifted = 0
    for block in blocks:
        first = block.conv[0]
        if isinstance(first, TemporalShift):
            # Behind the shift: the adapter sees shifted frames.
            shifted += 1
            assert isinstance(first.net.conv, WeightAlteredConv2d)
        else:
            assert isinstance(first.conv, WeightAlteredConv2d)
    assert shifted == 10  # the stock shift sites
    # expand_ratio == 1: the first conv is the depthwise one.
    depthwise = ffn.layer1[0].conv[0].conv
    assert depthwise.groups == depthwise.in_channels == 32
    # Unshifted blocks get adapters too (one per block), as in ResNetTSM_FFN.
    unshifted = MobileNetV2TSM_FFN(is_shift=False)
    assert not any(isinstance(m, TemporalShift) for m in unshifted.modules())
    assert sum(
        isinstance(m, WeightAlteredConv2d) for m in unshifted.modules()) == 17
    plain = MobileNetV2TSM_FFN(weight_alteration=False)
    assert not any(isinstance(m, WeightAlteredConv2d) for m in plain.modules())
    # Shared conv keys are MobileNetV2TSM's.
    stock_keys = set(_stock(8).state_dict())
    ffn_keys = {
        _stock_name(k)[0]
        for k in ffn.state_dict() if '.alteration.' not in k
    }
    assert ffn_keys == stock_keys
    assert 'layer2.1.conv.0.net.conv.alteration.4.weight' in ffn.state_dict()


def test_parameter_overhead():
    ffn = MobileNetV2TSM_FFN(num_segments_list=(4, 8))
    overhead = ffn.parameter_overhead()
    assert overhead['rate_specific_norm'] > 0
    assert overhead['weight_alteration'] > 0
    stock_params = sum(p.numel() for p in _stock(8).parameters())
    ffn_params = sum(p.numel() for p in ffn.parameters())
    assert ffn_params - stock_params == overhead['total'] > 0


def test_registered_in_models():
    init_default_scope('mmaction')
    ffn = MODELS.build(
        dict(type='MobileNetV2TSM_FFN', num_segments_list=[2, 4]))
    assert isinstance(ffn, MobileNetV2TSM_FFN)
    assert ffn.num_segments_list == (2, 4) and ffn.num_segments == 4


# --- frame counts ------------------------------------------------------------
def test_clips_stay_apart(randomise_norms):
    _, ffn = _stock_and_ffn((4, 8), randomise_norms)
    _zero_adapters(ffn, 0.1)  # branches clearly different functions
    ffn.eval()
    for count in (4, 8):
        x = _frames(2, count)
        changed = x.clone()
        changed[count:] = _frames(1, count, seed=1)
        with torch.no_grad():
            with ffn.frame_count(count):
                out, out_changed = ffn(x), ffn(changed)
            # Negative control: one 2T-frame clip spans both videos.
            with ffn.frame_count(2 * count):
                mixed, mixed_changed = ffn(x), ffn(changed)
        torch.testing.assert_close(out_changed[:count], out[:count])
        assert not torch.allclose(out_changed[count:], out[count:])
        assert not torch.allclose(mixed_changed[:count], mixed[:count])


def test_untrained_count_uses_nearest_branch_and_real_count(randomise_norms):
    state, ffn = _stock_and_ffn((4, 8), randomise_norms)
    expected = {1: 4, 5: 4, 6: 8, 7: 8, 12: 8}  # 6 is a tie: the higher
    assert {n: ffn.branch_for(n) for n in expected} == expected
    # Branch 4 differs, so using it instead of branch 8 would show.
    for module in ffn.modules():
        if isinstance(module, RateSpecificBatchNorm):
            randomise_norms(module.branch(4), seed=1)
    seen_segments, seen_branches = set(), set()
    hooks = [
        m.register_forward_pre_hook(
            lambda mod, args: seen_segments.add(mod.num_segments))
        for m in ffn.modules() if isinstance(m, TemporalShift)
    ] + [
        m.register_forward_pre_hook(
            lambda mod, args: seen_branches.add(mod.active))
        for m in ffn.modules()
        if isinstance(m, (RateSpecificBatchNorm, WeightAlteredConv2d))
    ]
    stock = _stock(6)
    stock.load_state_dict(state)
    stock.eval()
    x = _frames(2, 6)
    try:
        with torch.no_grad(), ffn.eval().frame_count(6) as branch:
            assert branch == 8 and ffn.active_frame_count == 6
            out = ffn(x)
    finally:
        for hook in hooks:
            hook.remove()
    assert seen_segments == {6} and seen_branches == {8}
    with torch.no_grad():
        torch.testing.assert_close(out, stock(x), atol=1e-5, rtol=0)
    assert ffn.active_frame_count == 8  # restored
    assert ffn.layer2[1].conv[0].num_segments == 8


# --- training options: same training/requires_grad state as stock ----------
def _states(model):
    """{stock-style name: {(training, requires_grad of own params)}} over
    the modules stock also has (rate-specific copies merged, adapters
    left out)."""
    states = {}
    for name, module in model.named_modules():
        if isinstance(module, (RateSpecificBatchNorm, nn.ModuleDict,
                               AlterationWeight)):
            continue
        params = tuple(p.requires_grad for p in module.parameters(False))
        states.setdefault(_BRANCH.sub('', name), set()).add(
            (module.training, params))
    return states


@pytest.mark.parametrize('options', [
    dict(frozen_stages=0),
    dict(frozen_stages=3),
    dict(frozen_stages=8),
    dict(norm_eval=True),
    dict(frozen_stages=2, norm_eval=True),
])
def test_training_options_like_stock(options):
    stock = _stock(8, **options)
    ffn = MobileNetV2TSM_FFN(num_segments_list=(4, 8), **options)
    stock.train()
    assert ffn.train() is ffn
    stock_states = _states(stock)
    # Every copy in the state of its stock module.
    assert _states(ffn) == stock_states
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            # The adapters follow their conv.
            for adapter in module.alteration.values():
                assert adapter.training == module.training
                assert (adapter.weight.requires_grad ==
                        module.weight.requires_grad)
    if options.get('norm_eval'):
        assert not any(m.training
                       for m in ffn.modules() if isinstance(m, _BatchNorm))
        before = ffn.layer3[1].conv[0].net.bn.branch(8).running_mean.clone()
        ffn(_frames(1, 8))
        assert torch.equal(ffn.layer3[1].conv[0].net.bn.branch(8).running_mean,
                           before)


# --- initialisation and pretrained formats -----------------------------------
def _adapter_std(ffn):
    return torch.cat([
        a.weight.flatten() for m in ffn.modules()
        if isinstance(m, WeightAlteredConv2d) for a in m.alteration.values()
    ]).std().item()


def test_init_from_scratch_like_stock():
    torch.manual_seed(0)
    # Stock pretrained2d=True with pretrained=None would try to load None.
    ffn = MobileNetV2TSM_FFN(num_segments_list=(4, 8), pretrained=None)
    ffn.init_weights()
    norms = [m for m in ffn.modules() if isinstance(m, _BatchNorm)]
    assert len(norms) == 52 * 2
    assert all((n.weight == 1).all() and (n.bias == 0).all() for n in norms)
    assert 0.5e-3 < _adapter_std(ffn) < 2e-3
    assert ffn.layer2[1].conv[0].net.conv.weight.std().item() > 1e-2


@pytest.mark.parametrize('source', ['tsm', 'mobilenet_v2', 'recognizer'])
def test_pretrained_fills_every_branch(source, tmp_path, randomise_norms):
    torch.manual_seed(0)
    stock = MobileNetV2(
        pretrained=None) if source == 'mobilenet_v2' else _stock(8)
    stock.init_weights()
    randomise_norms(stock)
    state = stock.state_dict()
    if source == 'recognizer':  # an MMEngine checkpoint of a whole model
        state = {f'backbone.{k}': v for k, v in state.items()}
        state['cls_head.fc_cls.weight'] = torch.zeros(5, 1280)
        state = dict(state_dict=state, meta=dict(epoch=1))
    path = str(tmp_path / 'stock.pth')
    torch.save(state, path)
    ffn = MobileNetV2TSM_FFN(
        num_segments_list=(4, 8), pretrained=path, pretrained2d=True)
    # Loaded once, by the mixin: not also by MMEngine's 'Pretrained' init.
    assert 'Pretrained' not in str(ffn.init_cfg)
    ffn.init_weights()  # loads `path`
    result = ffn.load_pretrained(path)
    assert not result.missing and not result.mismatched
    assert not result.unexpected
    assert 0.5e-3 < _adapter_std(ffn) < 2e-3  # adapters keep their init
    # 2D keys lack TemporalShift's `.net`: compare without it.
    stock_state = {
        k.replace('.net.', '.'): v
        for k, v in stock.state_dict().items()
    }
    for name, value in ffn.state_dict().items():
        stock_name, _ = _stock_name(name)
        if stock_name is not None:
            stock_name = stock_name.replace('.net.', '.')
            assert torch.equal(value, stock_state[stock_name]), name


def test_torchvision_naming_is_refused_clearly(tmp_path):
    path = str(tmp_path / 'torchvision.pth')
    torch.save(
        {
            'features.0.0.weight': torch.zeros(32, 3, 3, 3),
            'features.1.conv.0.0.weight': torch.zeros(32, 1, 3, 3),
            'classifier.1.weight': torch.zeros(1000, 1280)
        }, path)
    ffn = MobileNetV2TSM_FFN(num_segments_list=(4, 8), pretrained=path)
    with pytest.raises(
            ValueError,
            match=r"torchvision.pth: it uses "
            r"torchvision's MobileNetV2 names"):
        ffn.init_weights()


def test_with_cp_is_refused():
    with pytest.raises(NotImplementedError, match='with_cp'):
        MobileNetV2TSM_FFN(with_cp=True)


# --- through RecognizerFFN ---------------------------------------------------
def _samples(n, **meta):
    out = []
    for i in range(n):
        sample = ActionDataSample()
        sample.set_gt_label(torch.tensor([i % 5]))
        sample.set_metainfo(meta)
        out.append(sample)
    return out


def test_recognizer_ffn_loss_and_predict():
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(
        recognizer_ffn_cfg(
            dict(
                type='MobileNetV2TSM_FFN',
                num_segments_list=(4, 8),
                pretrained2d=False,
                pretrained=None), 1280))
    model.init_weights()
    model.train()
    losses = model(
        torch.randn(2, 12, 3, SIZE, SIZE),
        _samples(2, clip_lens=(4, 8)),
        mode='loss')
    assert {'loss_cls', 'loss_distill'} <= set(losses)
    for key in ('loss_cls', 'loss_distill'):
        assert torch.isfinite(losses[key]).all(), key
    model.eval()
    for count in (4, 6, 8):
        with torch.no_grad():
            out = model(
                torch.randn(2, count, 3, SIZE, SIZE),
                _samples(2, num_clips=count, clip_len=1),
                mode='predict')
        assert len(out) == 2
        for sample in out:
            assert sample.pred_score.shape == (5, )
            assert torch.isfinite(sample.pred_score).all()
    assert model.backbone.active_frame_count == 8
