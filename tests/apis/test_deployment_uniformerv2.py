"""One count of a UniFormerV2_FFN recognizer as the stock MMAction2
Recognizer3D with a stock UniFormerV2 of ``t_size=T`` (``build_deployed``):
no mmffn module left, same outputs at trained and untrained counts (no
weight is shaped by the count)."""
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.registry import DefaultScope

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import (build_deployed, compare_outputs, frame_flexible_model,
                        stock_model)
from mmffn.models.layers import WeightAlteredConv

TOLERANCE = 1e-4
HEADS = ('TimeSformerHead', 'UniFormerHead')  # those of the 24 recipes


@pytest.fixture(autouse=True)
def mmaction_scope():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors on shared CPUs
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield
    torch.set_num_threads(threads)


def _stock_cfg(head='TimeSformerHead', **backbone):
    """A tiny stock UniFormerV2 recipe (a shipped one's structure: no local
    MHRA unless asked, 32 px, MLP dropout)."""
    return dict(
        type='Recognizer3D',
        backbone=dict(
            dict(
                type='UniFormerV2',
                input_resolution=32,
                patch_size=16,
                width=32,
                layers=3,
                heads=2,
                t_size=8,
                return_list=[1, 2],
                n_layers=2,
                n_dim=32,
                n_head=2,
                mlp_dropout=[0.5, 0.5],
                clip_pretrained=True,
                pretrained='ViT-B/16'), **backbone),
        cls_head=dict(
            type=head, in_channels=32, num_classes=5, average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCTHW'))


def _randomise(model, seed=0):
    """Per-copy norms, adapters and the classifier far from their init, so
    a wrong branch or a missed fold changes outputs."""
    generator = torch.Generator().manual_seed(seed)

    def rand(shape, low, high):
        return torch.rand(shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.LayerNorm, nn.BatchNorm3d)):
                module.weight.copy_(rand(module.weight.shape, 0.5, 1.5))
                module.bias.copy_(rand(module.bias.shape, -0.2, 0.2))
            if isinstance(module, nn.BatchNorm3d):
                module.running_mean.copy_(rand(module.num_features, -.2, .2))
                module.running_var.copy_(rand(module.num_features, 0.5, 1.5))
            if isinstance(module, WeightAlteredConv):
                for adapter in module.alteration.values():
                    adapter.weight.copy_(rand(adapter.weight.shape, -0.5, 0.5))
        for param in model.cls_head.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))


def _model(stock, counts):
    """The FFN recognizer of ``stock`` at ``counts``, built and randomised
    (the CLIP download left out: clip_pretrained only matters at init)."""
    cfg = frame_flexible_model(stock, counts)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    _randomise(model)
    return cfg, model.eval()


def _assert_deploys(model, cfg, frames):
    deployed = build_deployed(model, cfg, frames)
    assert type(deployed).__name__ == 'Recognizer3D'
    assert type(deployed.backbone).__name__ == 'UniFormerV2'
    assert deployed.backbone.transformer.T == model.backbone.token_frames(
        frames)
    assert not [
        type(m).__name__
        for m in deployed.modules() if type(m).__module__.startswith('mmffn')
    ]
    # No size given: the comparison reads input_resolution (32 px).
    outputs = compare_outputs(model, deployed, frames)
    assert outputs['max_abs_diff'] <= TOLERANCE * max(
        1.0, outputs['max_abs_output']), (frames, outputs)
    return deployed


@pytest.mark.parametrize('head', HEADS)
@pytest.mark.parametrize('counts, untrained', [((4, 8, 16), (6, 3)),
                                               ((2, 4), (3, 1))])
def test_every_count_deploys_to_the_stock_recognizer3d(head, counts,
                                                       untrained):
    cfg, model = _model(_stock_cfg(head), counts)
    for frames in counts + untrained:
        _assert_deploys(model, cfg, frames)
    # The function changes with the branch: the comparison can fail.
    other = compare_outputs(model, build_deployed(model, cfg, counts[0]),
                            counts[-1])
    assert other['max_abs_diff'] > 1e-3


def test_stock_config_loads_nothing_and_counts_frames():
    """The deployed backbone: t_size=T (input frames), no CLIP download,
    no init_cfg, no FFN argument."""
    cfg = frame_flexible_model(
        _stock_cfg(init_cfg=dict(type='Pretrained', checkpoint='x.pth')),
        (4, 8, 16))
    backbone = stock_model(cfg, 6)['backbone']
    assert backbone['type'] == 'UniFormerV2'
    assert backbone['t_size'] == 6
    assert backbone['clip_pretrained'] is False
    assert backbone['pretrained'] is None
    for key in ('init_cfg', 'num_segments', 'num_segments_list'):
        assert key not in backbone


@pytest.mark.parametrize('frames', [2, 4, 6])
def test_local_mhra_and_temporal_downsample_deploy(frames):
    """The stock defaults' structures (BatchNorm3d in the local MHRA,
    temporal stride 2) at even counts, trained or not; an odd count has no
    stock equivalent under temporal_downsample (see uniformerv2_ffn.py)."""
    cfg, model = _model(
        _stock_cfg(no_lmhra=False, temporal_downsample=True), (2, 4))
    _assert_deploys(model, cfg, frames)
