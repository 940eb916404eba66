"""TANet_FFN: per-count TAM global modules G, equivalence with TANet."""
import copy
import math

import pytest
import torch
import torch.nn as nn
from mmaction.models import ResNet, TANet
from mmaction.models.common import TAM
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope
from shared_builders import recognizer_ffn_cfg
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.backbones import TANet_FFN
from mmffn.models.layers import (RateSpecificBatchNorm, RateSpecificLayer,
                                 WeightAlteredConv2d, to_static)
from mmffn.models.layers.rate_specific_module import (RateSpecificModule,
                                                      resample_frames)

SIZE = 32

pytestmark = pytest.mark.usefixtures('one_thread')


def _frames(num_videos, num_frames, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(
        num_videos * num_frames, 3, SIZE, SIZE, generator=generator)


def _zero_adapters(ffn):
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.0)


def _stock_models(counts, randomise_norms):
    """A stock TANet per count, sharing every weight but TAM's G."""
    torch.manual_seed(0)
    models = {}
    shared = None
    for count in counts:
        stock = TANet(50, num_segments=count)
        randomise_norms(stock, seed=count)  # G's BatchNorm1d per count
        if shared is None:
            shared = {
                k: v
                for k, v in stock.state_dict().items() if '.tam.G.' not in k
            }
        stock.load_state_dict(shared, strict=False)
        stock.eval()  # ResNet.train returns None
        models[count] = stock
    return models


@pytest.fixture(scope='module', params=[(4, 8), (3, 6, 8)], ids=str)
def pair(request, tmp_path_factory):
    """(counts, stock TANet per count, TANet_FFN loaded from their files)."""
    from shared_builders import randomise_norms
    counts = request.param
    stocks = _stock_models(counts, randomise_norms)
    ffn = TANet_FFN(50, num_segments_list=counts)
    root = tmp_path_factory.mktemp('tanet')
    for count, stock in stocks.items():
        path = str(root / f'tanet_{count}.pth')
        torch.save(stock.state_dict(), path)
        # Each stock file fills the shared weights and its own G copy; the
        # other G copies keep what they hold.
        result = ffn.load_pretrained(path)
        assert not result.missing and not result.mismatched
        assert not result.unexpected
    _zero_adapters(ffn)
    return counts, stocks, ffn.eval()


# --- equivalence with MMAction2's TANet --------------------------------------
def test_matches_tanet_in_eval_mode_at_every_count(pair):
    counts, stocks, ffn = pair
    for count in counts:
        x = _frames(2, count)
        with torch.no_grad(), ffn.frame_count(count) as branch:
            assert branch == count
            out = ffn(x)
        expected = stocks[count](x)
        diff = (out - expected).abs().max().item()
        assert diff <= 1e-5, (count, diff)


def test_matches_tanet_in_train_mode_grads_and_stats(pair):
    counts, stocks, ffn_eval = pair
    for count in counts:
        ffn = copy.deepcopy(ffn_eval).train()
        stock = copy.deepcopy(stocks[count])
        stock.train()
        before = {k: v.clone() for k, v in ffn.state_dict().items()}
        x = _frames(2, count, seed=1)
        with ffn.frame_count(count):
            out = ffn(x)
        expected = stock(x)
        assert (out - expected).abs().max().item() <= 1e-5
        out.square().mean().backward()
        expected.square().mean().backward()
        ffn_params = dict(ffn.named_parameters())
        stock_params = dict(stock.named_parameters())
        after = ffn.state_dict()
        for key, value in stock.state_dict().items():
            # stock key -> FFN key of the active copy
            ffn_key = _ffn_key(key, count, after)
            if key in stock_params:
                grad = ffn_params[ffn_key].grad
                ref = stock_params[key].grad
                torch.testing.assert_close(grad, ref, atol=1e-5, rtol=1e-4)
            else:  # running statistics of the active copy follow stock
                torch.testing.assert_close(
                    after[ffn_key].float(), value.float(), atol=1e-6, rtol=0)
        for key, value in after.items():
            if '.branches.' in key and f'.branches.{count}.' not in key:
                assert torch.equal(value, before[key]), key  # untouched


def _ffn_key(stock_key, count, ffn_state):
    """FFN key holding ``stock_key`` of a stock TANet at ``count``."""
    parts = stock_key.split('.')
    candidates = [stock_key]
    for i in range(1, len(parts)):
        candidates.append('.'.join(parts[:i] +
                                   ['branches', str(count)] + parts[i:]))
    for cand in candidates:
        if cand in ffn_state:
            return cand
    raise KeyError(stock_key)


def test_keys_and_per_count_global_branches(pair):
    counts, stocks, ffn = pair
    state = ffn.state_dict()
    alpha = 2
    for count in counts:
        weight = state[f'layer1.0.tam.G.branches.{count}.0.weight']
        assert weight.shape == (count * alpha, count)
        assert f'layer1.0.tam.G.branches.{count}.1.running_mean' in state
        assert f'layer1.0.tam.L.1.branches.{count}.weight' in state
    assert 'layer1.0.tam.L.0.weight' in state  # shared Conv1d
    assert not any('.G.branches.' in k and k.count('branches') > 1
                   for k in state)
    tams = [m for m in ffn.modules() if isinstance(m, TAM)]
    assert len(tams) == 16
    for tam in tams:
        assert isinstance(tam.G, RateSpecificModule)
        assert tam.G.frame_counts == counts
        for count in counts:
            bn = tam.G.branch(count)[1]
            assert type(bn) is nn.BatchNorm1d
            assert bn.num_features == alpha * count
    # Every other BatchNorm has per-count copies.
    stock = stocks[counts[0]]
    plain = sum(isinstance(m, _BatchNorm) for m in stock.modules())
    rate = sum(isinstance(m, RateSpecificBatchNorm) for m in ffn.modules())
    assert rate == plain - len(tams)
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv2d)]
    assert len(adapters) == 16


def test_no_clip_depends_on_another(pair):
    counts, _, ffn = pair
    for count in counts:
        x = _frames(2, count)
        y = x.clone()
        y[count:] = torch.randn_like(y[count:])
        with torch.no_grad(), ffn.frame_count(count):
            a, b = ffn(x), ffn(y)
        assert torch.allclose(a[:count], b[:count], atol=1e-6)
        assert not torch.allclose(a[count:], b[count:], atol=1e-3)


# --- untrained counts --------------------------------------------------------
def test_resample_frames_by_hand():
    x = torch.tensor([[0., 10., 20., 60., 40., 50.]])  # length 6 -> 8
    out = resample_frames(x, 8)
    expected = []
    for j in range(8):
        pos = j * 5 / 7
        lo = math.floor(pos)
        hi = min(lo + 1, 5)
        w = pos - lo
        expected.append(x[0, lo] * (1 - w) + x[0, hi] * w)
    torch.testing.assert_close(out[0], torch.stack(expected))
    assert resample_frames(x, 6) is x  # trained count: untouched
    y = torch.randn(2, 6, 3)
    torch.testing.assert_close(
        resample_frames(y, 4, dim=1),
        resample_frames(y.transpose(1, 2), 4).transpose(1, 2))


class _Resampled(nn.Module):

    def __init__(self, length, module):
        super().__init__()
        self.length, self.module = length, module

    def forward(self, x):
        return self.module(resample_frames(x, self.length))


def test_untrained_count_uses_nearest_branch_with_resampled_descriptor(pair):
    counts, _, ffn = pair
    frames = 7 if 6 in counts else 6  # untrained, between a count and 8
    x = _frames(2, frames, seed=3)
    with torch.no_grad(), ffn.frame_count(frames) as branch:
        assert branch == 8  # tie -> higher
        out = ffn(x)
        assert ffn.layer1[0].tam.num_segments == frames
    assert torch.isfinite(out).all()
    # Reference: the static 8-frame model at that count, every G fed the
    # descriptor resampled to 8 samples.
    reference = to_static(ffn, 8)
    for module in reference.modules():
        if isinstance(vars(module).get('num_segments'), int):
            module.num_segments = frames
        if isinstance(module, TAM):
            module.G = _Resampled(8, module.G)
    reference._frame_count = frames
    with torch.no_grad():
        expected = reference(x)
    assert (out - expected).abs().max().item() <= 1e-5


def test_counts_below_three_are_refused():
    with pytest.raises(ValueError, match='got 2'):
        TANet_FFN(50, num_segments_list=(2, 8), weight_alteration=False)
    with pytest.raises(ValueError, match='got 2'):
        TANet_FFN(50, num_segments_list=(4, 8), num_segments=2)


def test_running_fewer_than_three_frames_is_refused(pair):
    counts, _, ffn = pair
    with pytest.raises(ValueError, match='got 2'):
        with ffn.frame_count(2):
            pass
    assert ffn.active_frame_count == counts[-1]


# --- per-count G, registry, init, pretrained ---------------------------------
def test_to_static_of_global_branch_is_the_branch(pair):
    counts, _, ffn = pair
    g = ffn.layer2[1].tam.G
    for count in counts:
        static = g.to_static(count)
        assert not isinstance(static, RateSpecificLayer)
        assert isinstance(static, nn.Sequential)
        desc = torch.randn(5, count)
        g.active = count
        static.eval()
        with torch.no_grad():
            torch.testing.assert_close(static(desc), g(desc))
        assert static.state_dict().keys() == g.branch(
            count).state_dict().keys()
    g.active = counts[-1]


def test_registered_in_models():
    init_default_scope('mmaction')
    model = MODELS.build(
        dict(
            type='TANet_FFN',
            depth=50,
            num_segments_list=[4, 8],
            tam_cfg=dict(alpha=1),
            weight_alteration=False))
    assert isinstance(model, TANet_FFN)
    assert model.num_segments_list == (4, 8)
    assert model.layer1[0].tam.G.branch(4)[0].weight.shape == (4, 4)


def test_init_weights_keeps_the_constructor_init():
    torch.manual_seed(0)
    ffn = TANet_FFN(50, num_segments_list=(4, 8), weight_alteration=False)
    before = {k: v.clone() for k, v in ffn.state_dict().items()}
    ffn.init_weights()
    after = ffn.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    # The G copy of the default count is the stock-built one.
    torch.manual_seed(0)
    stock = TANet(50, num_segments=8)
    torch.testing.assert_close(ffn.layer3[0].tam.G.branch(8)[0].weight,
                               stock.layer3[0].tam.G[0].weight)


def test_resnet_checkpoint_fills_resnet_part_and_keeps_tam(tmp_path):
    torch.manual_seed(1)
    resnet = ResNet(50, pretrained=None)
    resnet.init_weights()
    path = str(tmp_path / 'r50.pth')
    torch.save(dict(state_dict=resnet.state_dict()), path)
    torch.manual_seed(0)
    ffn = TANet_FFN(50, num_segments_list=(4, 8), pretrained=path)
    tam_before = {
        k: v.clone()
        for k, v in ffn.state_dict().items() if '.tam.' in k
    }
    ffn.init_weights()
    state = ffn.state_dict()
    torch.testing.assert_close(
        state['layer2.1.block.conv2.conv.weight'],
        resnet.state_dict()['layer2.1.conv2.conv.weight'])
    torch.testing.assert_close(
        state['layer2.1.block.conv2.bn.branches.4.weight'],
        resnet.state_dict()['layer2.1.conv2.bn.weight'])
    assert all(torch.equal(v, state[k]) for k, v in tam_before.items())


# --- through RecognizerFFN ---------------------------------------------------
def test_recognizer_loss_predict_and_static_backbone():
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(
        recognizer_ffn_cfg(
            dict(
                type='TANet_FFN',
                depth=50,
                num_segments_list=(4, 8),
                pretrained=None), 2048))
    model.init_weights()
    model.train()
    samples = []
    for i in range(2):
        sample = ActionDataSample().set_gt_label(torch.tensor([i]))
        sample.set_metainfo(dict(clip_lens=(4, 8)))
        samples.append(sample)
    losses = model(torch.randn(2, 12, 3, 32, 32), samples, mode='loss')
    assert torch.isfinite(losses['loss_cls'])
    assert torch.isfinite(losses['loss_distill'])
    model.eval()
    for count in (4, 6, 8):
        data = [ActionDataSample() for _ in range(2)]
        for sample in data:
            sample.set_metainfo(dict(num_clips=count))
        with torch.no_grad():
            out = model(torch.randn(2, count, 3, 32, 32), data, mode='predict')
        assert len(out) == 2
        assert all(torch.isfinite(s.pred_score).all() for s in out)
    backbone = model.backbone
    static = to_static(backbone, 8)
    assert not any(isinstance(m, RateSpecificLayer) for m in static.modules())
    for module in static.modules():
        if isinstance(vars(module).get('num_segments'), int):
            module.num_segments = 8
    static._frame_count = 8
    x = _frames(1, 8)
    with torch.no_grad(), backbone.frame_count(8):
        expected = backbone(x)
    with torch.no_grad():
        got = static(x)
    assert (got - expected).abs().max().item() <= 1e-5
