"""Builders shared by test folders (a module with a unique name: test files
import it directly; ``conftest`` is a name several folders use)."""
import copy
import re

import torch
from mmaction.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from mmffn.models.backbones import (FrameFlexible3DMixin,
                                    convert_pretrained_state_dict)
from mmffn.models.layers import WeightAlteredConv

# ``.branches.<T>`` (a norm or embedding copy) or ``.alteration.<T>`` (an
# adapter) in a state-dict key: the part of the FFN for count T.
_COPY = re.compile(r'\.(branches|alteration)\.(\d+)(?=\.|$)')


def randomise_norms(model: torch.nn.Module, seed: int = 0):
    """Give every BatchNorm (2d and 3d) non-trivial affine values and
    statistics, so that a test comparing outputs notices a norm loaded into
    the wrong place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(
                    torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(
                    torch.rand(n, generator=generator) + 0.5)
    return model


def recognizer_ffn_cfg(backbone: dict,
                       in_channels: int,
                       num_classes: int = 5,
                       num_segments: int = 8,
                       average_clips: str = 'prob') -> dict:
    """A small RecognizerFFN config around ``backbone`` (its highest count
    ``num_segments``): TSMHead without dropout, NCHW preprocessor."""
    return dict(
        type='RecognizerFFN',
        backbone=backbone,
        cls_head=dict(
            type='TSMHead',
            num_classes=num_classes,
            in_channels=in_channels,
            num_segments=num_segments,
            dropout_ratio=0.0,
            average_clips=average_clips),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCHW'))


def tsm_r18_cfgs(counts=(4, 8, 16)) -> tuple:
    """(FFN, stock) configs of the same R18 TSM: ``RecognizerFFN`` trained
    at ``counts``, and MMAction2's ``Recognizer2D`` at the highest count
    with the same head."""
    ffn = recognizer_ffn_cfg(
        dict(type='ResNetTSM_FFN', depth=18, num_segments_list=counts),
        in_channels=512,
        num_segments=counts[-1])
    stock = dict(
        type='Recognizer2D',
        backbone=dict(
            type='ResNetTSM',
            depth=18,
            num_segments=counts[-1],
            pretrained=None,
            pretrained2d=False),
        cls_head=copy.deepcopy(ffn['cls_head']))
    return ffn, stock


def build_for_training(cfg: dict, seed: int = 0) -> torch.nn.Module:
    """``cfg`` built in mmaction's scope, initialised from ``seed``, in
    training mode."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def labelled_samples(n: int, clip_lens=(4, 8, 16), num_classes: int = 3):
    """``n`` training data samples with labels ``i % num_classes`` and the
    sampler's ``clip_lens``."""
    from mmaction.structures import ActionDataSample
    samples = []
    for i in range(n):
        sample = ActionDataSample().set_gt_label(
            torch.tensor([i % num_classes]))
        sample.set_metainfo(dict(clip_lens=tuple(clip_lens)))
        samples.append(sample)
    return samples


# Tiny stock Recognizer3D configs (3 classes, 32 px clips): SlowFast with
# resample_rate=speed_ratio=4 (the paper's 4/8/16 slow, 16/32/64 fast
# layout) and X3D.
TINY_SLOWFAST = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3dSlowFast',
        resample_rate=4,
        speed_ratio=4,
        channel_ratio=8,
        slow_pathway=dict(
            type='resnet3d',
            depth=18,
            base_channels=16,
            pretrained=None,
            lateral=True,
            conv1_kernel=(1, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1)),
        fast_pathway=dict(
            type='resnet3d',
            depth=18,
            base_channels=2,
            pretrained=None,
            lateral=False,
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1)),
    cls_head=dict(
        type='SlowFastHead',
        in_channels=128 + 16,
        num_classes=3,
        dropout_ratio=0.0,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', format_shape='NCTHW'))
TINY_X3D = dict(
    type='Recognizer3D',
    backbone=dict(
        type='X3D', gamma_w=0.25, gamma_b=0.5, gamma_d=0.5, pretrained=None),
    cls_head=dict(
        type='X3DHead',
        in_channels=32,
        num_classes=3,
        dropout_ratio=0.0,
        fc1_bias=False,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', format_shape='NCTHW'))


# --- An FFN model against its stock twin ------------------------------------
def stock_key(key: str) -> str:
    """The stock model's key for an FFN key: every ``.branches.<T>``
    dropped."""
    return re.sub(r'\.branches\.\d+(?=\.|$)', '', key)


def copy_count(key: str):
    """The count T whose copy (norm, embedding or adapter) ``key`` belongs
    to, or None for a weight shared by every count."""
    match = _COPY.search(key)
    return None if match is None else int(match.group(2))


def stock_and_ffn(stock_cfg: dict, ffn_cfg: dict, randomise=randomise_norms):
    """The stock model (seed 0, ``randomise``-d) and its FFN version holding
    the same weights in every copy, adapters at zero. A recognizer gets its
    backbone converted and its head copied."""
    torch.manual_seed(0)
    stock = MODELS.build(stock_cfg)
    stock.init_weights()
    randomise(stock)
    ffn = MODELS.build(ffn_cfg)
    load_stock_into(ffn, stock)
    return stock, ffn


def load_stock_into(ffn, stock):
    """Fill every copy of ``ffn`` (a backbone or a recognizer) with the
    weights of ``stock``, its stock version; adapters at zero, and copies
    the family's checkpoint facts let keep their init (TANet's G of other
    counts) kept. Returns ``ffn``."""
    backbone = getattr(ffn, 'backbone', ffn)
    source = getattr(stock, 'backbone', stock).state_dict()
    result = backbone._adjust_conversion(
        convert_pretrained_state_dict(
            source, backbone.state_dict(), resize=backbone._resize_pretrained),
        list(source))
    assert not result.missing and not result.mismatched
    assert not result.unexpected
    missing, _ = backbone.load_state_dict(result.state_dict, strict=False)
    kept = set(result.optional_missing)
    assert all('.alteration.' in k or k in kept for k in missing), missing
    if backbone is not ffn:
        ffn.cls_head.load_state_dict(stock.cls_head.state_dict())
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv):
            module.reset_alteration(0.0)
    return ffn


def outputs(out) -> tuple:
    """A backbone's output as a tuple (SlowFast gives two pathways)."""
    return out if isinstance(out, tuple) else (out, )


def clip(ffn, count: int, n: int = 2, size: int = 32) -> torch.Tensor:
    """``n`` random clips of ``count`` frames, ``size`` px: ``(n, 3, L,
    size, size)``, ``L`` the input length of ``count``, for a 3D backbone,
    ``(n * count, 3, size, size)`` for a 2D one."""
    if isinstance(ffn, FrameFlexible3DMixin):
        return torch.randn(n, 3, ffn.input_frames(count), size, size)
    return torch.randn(n * count, 3, size, size)


def assert_equal_to_stock_at(stock, ffn, count: int, grad_atol=1e-4, size=32):
    """At ``count``, in train mode (batch statistics, drop path from the
    same seed): the FFN's outputs and gradients are the stock ones, the
    running statistics of its active copy too; active adapters get a
    gradient; the copies of other counts are untouched and get none.
    Returns the keys whose gradients were compared."""
    other = {
        k: v.clone()
        for k, v in ffn.state_dict().items()
        if copy_count(k) not in (None, count)
    }
    torch.manual_seed(count)
    x = clip(ffn, count, size=size)
    stock.train()
    ffn.train()
    torch.manual_seed(5)
    expected = outputs(stock(x))
    torch.manual_seed(5)
    with ffn.frame_count(count) as branch:
        assert branch == count
        got = outputs(ffn(x))
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    torch.manual_seed(1)
    probes = [torch.randn_like(o) for o in expected]
    stock.zero_grad()
    ffn.zero_grad()
    sum((o * p).sum() for o, p in zip(expected, probes)).backward()
    sum((o * p).sum() for o, p in zip(got, probes)).backward()
    stock_params = dict(stock.named_parameters())
    compared = []
    for key, param in ffn.named_parameters():
        if copy_count(key) not in (None, count):
            assert param.grad is None, key
        elif '.alteration.' in key:
            assert param.grad is not None, key
        else:
            torch.testing.assert_close(
                param.grad,
                stock_params[stock_key(key)].grad,
                atol=grad_atol,
                rtol=1e-4,
                msg=key)
            compared.append(key)
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        if 'running' in key and copy_count(key) == count:
            torch.testing.assert_close(
                value, stock_state[stock_key(key)], atol=1e-6, rtol=0)
    for key, value in other.items():
        assert torch.equal(ffn.state_dict()[key], value), key
    return compared


def assert_equal_to_stock_at_every_count(stock, ffn, counts):
    """``assert_equal_to_stock_at`` for each count, each on fresh copies of
    the pair. Returns the compared keys per count."""
    return {
        count: assert_equal_to_stock_at(
            copy.deepcopy(stock), copy.deepcopy(ffn), count)
        for count in counts
    }


def assert_no_clip_depends_on_another(ffn, count: int):
    """In eval mode, each clip of a batch of three gives what it gives
    alone."""
    ffn.eval()
    x = clip(ffn, count, n=3)
    with torch.no_grad(), ffn.frame_count(count):
        batch = outputs(ffn(x))
        for i in range(len(x)):
            alone = outputs(ffn(x[i:i + 1]))
            for a, b in zip(batch, alone):
                torch.testing.assert_close(
                    a[i:i + 1], b, atol=1e-5, rtol=0, msg=f'clip {i}')


def assert_init_equals_stock_init(stock_cfg: dict, ffn_cfg: dict, adjust=None):
    """Same seed, same weights: after ``init_weights`` every copy holds the
    stock init (``adjust(key, stock_value, value)``, if given, makes the
    expected value of ``key``); adapters are near zero but not zero.
    Returns (stock, ffn)."""
    ffn = MODELS.build(ffn_cfg)
    torch.manual_seed(3)
    ffn.init_weights()
    torch.manual_seed(3)
    stock = MODELS.build(stock_cfg)
    stock.init_weights()
    stock_state = stock.state_dict()
    for key, value in ffn.state_dict().items():
        if '.alteration.' in key:
            assert 0 < value.abs().max() < 0.01, key  # near-zero adapters
            continue
        expected = stock_state[stock_key(key)]
        if adjust is not None:
            expected = adjust(key, expected, value)
        torch.testing.assert_close(value, expected, msg=key)
    return stock, ffn
