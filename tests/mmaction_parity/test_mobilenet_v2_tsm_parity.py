"""Peer of MMAction2's ``tests/models/backbones/test_mobilenet_v2_tsm.py``.

The upstream MobileNetV2TSM cases (default width with its shift checks, then
widths 0.5 and 1.5), run against ``MobileNetV2TSM_FFN`` with the upstream
input (8 frames of 64 px) and expected shapes. Upstream loads
``mmcls://mobilenet_v2``; here ``pretrained=None`` keeps the tests offline.
Beyond the shapes, each case compares the FFN backbone, adapters at zero,
with a stock ``MobileNetV2TSM`` of the same options and weights.
"""
import pytest
import torch
from mmaction.models import MobileNetV2TSM
from mmaction.models.backbones.mobilenet_v2 import InvertedResidual
from mmaction.models.backbones.resnet_tsm import TemporalShift
from mmcv.cnn import ConvModule
from shared_builders import randomise_norms

import mmffn  # noqa: F401  (registers mmffn modules, applies compat fixes)
from mmffn.models.backbones import (MobileNetV2TSM_FFN,
                                    convert_pretrained_state_dict)
from mmffn.models.layers import WeightAlteredConv2d

pytestmark = pytest.mark.usefixtures('one_thread')


def upstream_frames(seed=0):
    """Upstream's backbone input: 8 frames of 64 px, values in [0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(8, 3, 64, 64, generator=gen)


def stock_and_ffn(**options):
    """Stock MobileNetV2TSM (scrambled norms) and MobileNetV2TSM_FFN with
    counts (4, 8) holding its weights, adapters at zero; both in eval."""
    torch.manual_seed(0)
    stock = MobileNetV2TSM(pretrained2d=False, **options)
    stock.init_weights()
    randomise_norms(stock)
    ffn = MobileNetV2TSM_FFN(
        num_segments_list=(4, 8), pretrained=None, **options)
    ffn.init_weights()
    result = convert_pretrained_state_dict(stock.state_dict(),
                                           ffn.state_dict())
    assert not (result.missing or result.mismatched or result.unexpected)
    ffn.load_state_dict(result.state_dict, strict=False)
    for module in ffn.modules():
        if isinstance(module, WeightAlteredConv2d):
            module.reset_alteration(0.0)
    stock.eval()  # stock MobileNetV2.train returns None: no chaining
    return stock, ffn.eval()


def check_against_stock(stock, ffn, expected_shape):
    frames = upstream_frames()
    with torch.no_grad():
        out = ffn(frames)
        reference = stock(frames)
    assert out.shape == torch.Size(expected_shape)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=0)


# upstream: widen_factor 1.0 ('mmcls://mobilenet_v2' there), shift checks.
def test_default_width_shifts_and_forward():
    stock, ffn = stock_and_ffn()
    assert ffn.num_segments == 8  # the upstream default count
    shifted = 0
    for block in ffn.modules():
        if (isinstance(block, InvertedResidual) and len(block.conv) == 3
                and block.use_res_connect):
            shift = block.conv[0]
            assert isinstance(shift, TemporalShift)
            assert shift.num_segments == ffn.num_segments
            assert shift.shift_div == ffn.shift_div == 8
            assert isinstance(shift.net, ConvModule)
            shifted += 1
    assert shifted == 10
    check_against_stock(stock, ffn, (8, 1280, 2, 2))


# upstream: widen_factor 0.5 (the last conv keeps 1280 channels) and 1.5.
@pytest.mark.parametrize('widen_factor,channels', [(0.5, 1280), (1.5, 1920)])
def test_widen_factor_forward(widen_factor, channels):
    stock, ffn = stock_and_ffn(widen_factor=widen_factor)
    check_against_stock(stock, ffn, (8, channels, 2, 2))
