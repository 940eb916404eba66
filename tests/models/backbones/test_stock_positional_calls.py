"""Every FFN backbone built as MMAction2 1.2.0's own tests build the stock
one (tests/models/backbones/test_<name>.py), positional arguments included:
it takes them as the stock class does and, at a trained count, computes
what the stock model built with the same arguments computes.

The FFN arguments are keyword-only, so each case passes its positional
arguments to both classes unchanged; keyword arguments only shrink widths
where MMAction2's case would be slow on a CPU (spatial sizes are small).
"""
from typing import NamedTuple

import pytest
import torch
import torch.nn as nn
from mmaction.models import (X3D, MobileNetV2TSM, ResNet3d, ResNet3dSlowFast,
                             ResNet3dSlowOnly, ResNetTSM, TANet, TimeSformer,
                             UniFormer)
from mmengine.model import BaseModule
from mmengine.registry import DefaultScope
from shared_builders import (assert_equal_to_stock_at, clip, load_stock_into,
                             outputs, randomise_norms)

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models import (X3D_FFN, MobileNetV2TSM_FFN, ResNet3d_FFN,
                          ResNet3dSlowFast_FFN, ResNet3dSlowOnly_FFN,
                          ResNetTSM_FFN, TANet_FFN, TimeSformer_FFN,
                          UniFormer_FFN)

DEFAULT_COUNTS = (4, 8, 16)


class Case(NamedTuple):
    """A stock call of MMAction2's tests: the classes, the arguments, the
    trained count to compare at and the input size."""
    stock: type
    ffn: type
    args: tuple
    kwargs: dict
    count: int
    size: int = 32


# SlowFast of MMAction2's test without lateral connections, its pretrained
# (None) positional; resample_rate=8, so 4 slow frames read 32.
_SLOWFAST_PATHWAY = dict(
    type='resnet3d',
    depth=50,
    pretrained=None,
    lateral=False,
    conv1_kernel=(1, 7, 7),
    dilations=(1, 1, 1, 1),
    conv1_stride_t=1,
    pool1_stride_t=1,
    inflate=(0, 0, 1, 1))
# TimeSformer's three cases: num_frames, img_size, patch_size positional;
# narrower and shallower than MMAction2's ViT-B.
_TIMESFORMER = dict(embed_dims=32, num_heads=2, num_transformer_layers=2)

CASES = {
    'resnet3d_34':
    Case(ResNet3d, ResNet3d_FFN, (34, None), {}, 8),
    'resnet3d_50_norm_eval':
    Case(ResNet3d, ResNet3d_FFN, (50, None),
         dict(pretrained2d=False, norm_eval=True), 4),
    'resnet3d_34_caffe':
    Case(ResNet3d, ResNet3d_FFN, (34, None),
         dict(pretrained2d=False, style='caffe'), 4),
    'slowfast_50_wo_lateral':
    Case(ResNet3dSlowFast, ResNet3dSlowFast_FFN, (None, ),
         dict(slow_pathway=_SLOWFAST_PATHWAY), 4),
    'slowonly_50':
    Case(ResNet3dSlowOnly, ResNet3dSlowOnly_FFN, (),
         dict(depth=50, pretrained=None), 8),
    'resnet_tsm_50':
    Case(ResNetTSM, ResNetTSM_FFN, (50, ), {}, 8),
    'resnet_tsm_50_no_pretrained':
    Case(ResNetTSM, ResNetTSM_FFN, (50, ),
         dict(pretrained=None, pretrained2d=False), 8),
    'tanet_50':
    Case(TANet, TANet_FFN, (50, 8), {}, 8),
    'mobilenet_v2_tsm_05':
    Case(MobileNetV2TSM, MobileNetV2TSM_FFN, (),
         dict(widen_factor=0.5, pretrained2d=False), 8),
    'x3d_s':
    Case(X3D, X3D_FFN, (), dict(gamma_w=1.0, gamma_b=2.25, gamma_d=2.2), 8),
    'uniformer':
    Case(
        UniFormer, UniFormer_FFN, (),
        dict(
            depth=[3, 4, 8, 3],
            embed_dim=[64, 128, 320, 512],
            head_dim=64,
            drop_path_rate=0.1), 16),
    'timesformer_divided':
    Case(TimeSformer, TimeSformer_FFN, (8, 64, 16),
         dict(_TIMESFORMER, attention_type='divided_space_time'), 8, 64),
    'timesformer_space_only':
    Case(TimeSformer, TimeSformer_FFN, (8, 64, 16),
         dict(_TIMESFORMER, attention_type='space_only'), 8, 64),
    # num_frames=2 is not a default count: trained counts (2, 4, 8).
    'timesformer_joint':
    Case(TimeSformer, TimeSformer_FFN, (2, 64, 8),
         dict(_TIMESFORMER, attention_type='joint_space_time'), 2, 64),
}
_COUNTS = {'timesformer_joint': (2, 4, 8)}


@pytest.fixture(autouse=True)
def mmaction_scope():
    # TimeSformer builds its layers through mmcv's registry, which finds
    # MMAction2's attentions in the 'mmaction' scope only.
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def _randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial norms (BatchNorm, LayerNorm) and time embedding, so a
    copy loaded into the wrong place shows."""
    randomise_norms(model, seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.LayerNorm) and module.weight is not None:
                shape = module.weight.shape
                module.weight.copy_(
                    torch.rand(shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(shape, generator=generator) / 10)
        embedding = getattr(model, 'time_embed', None)
        if isinstance(embedding, nn.Parameter):
            embedding.copy_(
                torch.randn(embedding.shape, generator=generator) / 10)
    return model


def _pair(case: Case, counts=DEFAULT_COUNTS):
    torch.manual_seed(0)
    stock = case.stock(*case.args, **case.kwargs)
    if isinstance(stock, ResNetTSM):
        # ResNetTSM.init_weights loads `pretrained` even when it is None
        # (pretrained2d=True); BaseModule's init is its scratch init.
        BaseModule.init_weights(stock)
    else:
        stock.init_weights()
    _randomise(stock)
    ffn = case.ffn(*case.args, num_segments_list=counts, **case.kwargs)
    return stock, load_stock_into(ffn, stock)


@pytest.mark.parametrize('name', list(CASES))
def test_stock_call_equals_the_stock_model(name, one_thread):
    case = CASES[name]
    counts = _COUNTS.get(name, DEFAULT_COUNTS)
    stock, ffn = _pair(case, counts)
    assert ffn.num_segments_list == counts
    assert isinstance(ffn, case.stock)
    # Eval mode: running statistics of the active copy.
    stock.eval()
    ffn.eval()
    torch.manual_seed(1)
    x = clip(ffn, case.count, size=case.size)
    with torch.no_grad(), ffn.frame_count(case.count):
        got = outputs(ffn(x))
    with torch.no_grad():
        expected = outputs(stock(x))
    difference = max((a - b).abs().max().item() for a, b in zip(got, expected))
    print(f'\n{name}: max |FFN - stock| = {difference:.3g} at '
          f'{case.count} frames')
    assert difference <= 1e-5
    # Train mode: batch statistics, gradients, the other copies untouched.
    assert_equal_to_stock_at(stock, ffn, case.count, size=case.size)


@pytest.mark.parametrize('ffn_class,args,index', [
    (ResNetTSM_FFN, (50, 4), 1),
    (TANet_FFN, (50, 4), 1),
    (MobileNetV2TSM_FFN, (4, ), 0),
])
def test_positional_num_segments_is_the_default_count(ffn_class, args, index):
    """``num_segments`` is a stock positional parameter of the 2D
    backbones, and it means the count the model runs at: so it does here,
    the FFN ``num_segments``."""
    ffn = ffn_class(*args)
    assert ffn.num_segments_list == DEFAULT_COUNTS
    assert ffn.num_segments == ffn.active_frame_count == args[index]
    with pytest.raises(TypeError, match='twice'):
        ffn_class(*args, num_segments=8)


def test_ffn_arguments_are_keyword_only():
    # ResNetTSM's second positional parameter is num_segments, not
    # num_segments_list; TimeSformer's first is num_frames.
    with pytest.raises(ValueError, match='num_segments must be'):
        ResNetTSM_FFN(18, (4, 8))
    ffn = TimeSformer_FFN(
        4, 32, 16, embed_dims=32, num_heads=2, num_transformer_layers=1)
    assert ffn.num_segments_list == DEFAULT_COUNTS
    assert ffn._stock_value('num_frames') == 4
