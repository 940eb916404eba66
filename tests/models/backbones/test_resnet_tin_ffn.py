"""ResNetTIN_FFN: converts and builds on CPU; equal to MMAction2's ResNetTIN
at every trained count. MMCV's ``tin_shift`` is a CUDA op of full MMCV
(mmcv-lite has no ``mmcv.ops``), so both models run here on a plain-torch
stand-in for it: what is compared is the FFN structure around the op, the
same op on both sides."""
import glob
import os.path as osp
import sys
import types

import mmaction
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from shared_builders import assert_equal_to_stock_at_every_count, stock_and_ffn

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model, stock_model
from mmffn.models.backbones import ResNetTIN_FFN
from mmffn.models.layers import RateSpecificModule, WeightAlteredConv2d

pytestmark = pytest.mark.usefixtures('one_thread')

TIN18 = dict(type='ResNetTIN', depth=18, pretrained=None, pretrained2d=False)


def _tin_shift(data, shift):
    """Channel group ``g`` of ``data`` (N, T, C, HW) moved ``shift[n, g]``
    frames later in time, zeros where nothing arrives (integer shifts, as
    MMCV's op)."""
    out = torch.zeros_like(data)
    frames, groups = data.shape[1], shift.shape[1]
    size = data.shape[2] // groups
    for n in range(data.shape[0]):
        for g in range(groups):
            s = int(shift[n, g])
            channels = slice(g * size, (g + 1) * size)
            if abs(s) < frames:
                src = slice(max(0, -s), frames - max(0, s))
                dst = slice(max(0, s), frames - max(0, -s))
                out[n, dst, channels] = data[n, src, channels]
    return out


@pytest.fixture
def tin_shift(monkeypatch):
    ops = types.ModuleType('mmcv.ops')
    ops.tin_shift = _tin_shift
    monkeypatch.setitem(sys.modules, 'mmcv.ops', ops)


@pytest.mark.parametrize('counts', [(4, 8, 16), (2, 3)])
def test_equals_the_stock_backbone_at_every_count(tin_shift, counts):
    """stock_and_ffn loads the stock TIN (of the highest count) into every
    copy; the OffsetNets of the other counts keep their init. Each count is
    then compared with a stock ResNetTIN of that count holding the
    FFN's weights of it (its OffsetNet copy included)."""
    stock, ffn = stock_and_ffn(
        dict(TIN18, num_segments=counts[-1]),
        dict(TIN18, type='ResNetTIN_FFN', num_segments_list=counts))
    shared = {
        k: v
        for k, v in stock.state_dict().items() if 'offset_net' not in k
    }
    for count in counts:
        marker = f'offset_net.branches.{count}.'
        reference = MODELS.build(dict(TIN18, num_segments=count))
        reference.load_state_dict(
            dict(
                shared, **{
                    k.replace(marker, 'offset_net.'): v
                    for k, v in ffn.state_dict().items() if marker in k
                }))
        assert_equal_to_stock_at_every_count(reference, ffn, (count, ))


def test_loads_a_stock_tin_checkpoint_of_one_count(tmp_path):
    """A stock ResNetTIN checkpoint (8 frames) fills every norm copy and
    the OffsetNet copy of 8; the OffsetNets of 4 keep their init."""
    torch.manual_seed(0)
    stock = MODELS.build(dict(TIN18, num_segments=8))
    path = str(tmp_path / 'tin8.pth')
    torch.save(stock.state_dict(), path)
    ffn = ResNetTIN_FFN(18, num_segments_list=(4, 8), pretrained2d=False)
    offset4 = ffn.layer1[0].conv1.conv.net1.offset_net.branch(4)
    before = offset4.fc1.weight.clone()
    result = ffn.load_pretrained(path)
    assert len([k for k in result.optional_missing if 'offset_net' in k
                ]) == 8 * 6  # 8 interlaces, 6 tensors in each 4-frame copy
    assert torch.equal(offset4.fc1.weight, before)
    loaded = ffn.layer1[0].conv1.conv.net1.offset_net.branch(8)
    assert torch.equal(loaded.fc1.weight,
                       stock.layer1[0].conv1.conv.net1.offset_net.fc1.weight)
    assert torch.equal(ffn.layer1[0].conv1.conv.net2.weight,
                       stock.layer1[0].conv1.conv.net2.weight)


def test_structure():
    ffn = ResNetTIN_FFN(18, num_segments_list=(4, 8), pretrained2d=False)
    offsets = [m for m in ffn.modules() if isinstance(m, RateSpecificModule)]
    assert len(offsets) == 8  # one interlace per block (n_round 1)
    assert all(o.frame_counts == (4, 8) for o in offsets)
    assert offsets[0].branch(4).fc1.in_features == 4
    adapters = [m for m in ffn.modules() if isinstance(m, WeightAlteredConv2d)]
    assert len(adapters) == 8
    assert isinstance(ffn.layer1[0].conv1.conv.net2, WeightAlteredConv2d)
    plain = ResNetTIN_FFN(18, is_tin=False, pretrained2d=False)
    assert isinstance(plain.layer1[0].conv1.conv, WeightAlteredConv2d)


CONFIGS = sorted(
    glob.glob(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            'tin', '*.py')))


@pytest.mark.parametrize(
    'path', CONFIGS, ids=[osp.basename(p) for p in CONFIGS])
def test_every_packaged_config_converts_and_builds(path):
    """Built on CPU (tin_shift is only needed by forward), depth cut to
    18; deployed back at trained counts only (OffsetNet)."""
    model = Config.fromfile(path).model.to_dict()
    ffn = frame_flexible_model(model, (4, 8, 16), pretrained=None)
    assert ffn['backbone']['type'] == 'ResNetTIN_FFN'
    ffn['backbone']['depth'] = 18
    ffn['cls_head']['in_channels'] = 512
    init_default_scope('mmaction')
    assert isinstance(MODELS.build(ffn).backbone, ResNetTIN_FFN)
    assert stock_model(ffn, 8)['backbone']['num_segments'] == 8
    with pytest.raises(ValueError, match='only a trained count'):
        stock_model(ffn, 6)
