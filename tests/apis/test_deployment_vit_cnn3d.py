"""mmffn.apis.build_deployed for VideoMAE's ViT, CSN, C2D and R(2+1)D: one
count as the stock Recognizer3D with the stock backbone (no mmffn module
left, adapters folded into plain convs), same outputs within 1e-4 at the
trained counts (4, 8, 16), and at an untrained count (6) where no weight is
shaped by the count (every family here but the ViT, whose position table
is)."""
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import build_deployed, compare_outputs, frame_flexible_model
from mmffn.models.layers import WeightAlteredConv

pytestmark = pytest.mark.usefixtures('one_thread')
COUNTS = (4, 8, 16)
SIZE = 32
TOLERANCE = 1e-4
_HEAD = dict(type='I3DHead', num_classes=3, average_clips='prob')
_PREPROCESSOR = dict(type='ActionDataPreprocessor', format_shape='NCTHW')


def _recognizer(backbone, in_channels, head=_HEAD):
    return dict(
        type='Recognizer3D',
        backbone=backbone,
        cls_head=dict(head, in_channels=in_channels),
        data_preprocessor=_PREPROCESSOR)


_VIT = dict(
    type='VisionTransformer',
    img_size=SIZE,
    patch_size=16,
    embed_dims=32,
    depth=2,
    num_heads=2,
    num_frames=16)
_VIT_HEAD = dict(type='TimeSformerHead', num_classes=3, average_clips='prob')
TINY = {
    'VisionTransformer':
    _recognizer(_VIT, 32, _VIT_HEAD),
    'VisionTransformer (learnable table)':
    _recognizer(dict(_VIT, use_learnable_pos_emb=True), 32, _VIT_HEAD),
    'ResNet3dCSN':
    _recognizer(
        dict(
            type='ResNet3dCSN',
            depth=50,
            pretrained=None,
            pretrained2d=False,
            base_channels=4,
            stage_blocks=(1, 1, 1, 1),
            bottleneck_mode='ip'), 128),
    'C2D':
    _recognizer(
        dict(
            type='C2D',
            depth=18,
            pretrained=None,
            num_stages=2,
            out_indices=(1, ),
            strides=(1, 2),
            dilations=(1, 1)), 128),
    'ResNet2Plus1d':
    _recognizer(
        dict(
            type='ResNet2Plus1d',
            depth=18,
            pretrained=None,
            pretrained2d=False,
            base_channels=8,
            conv_cfg=dict(type='Conv2plus1d'),
            conv1_kernel=(3, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(1, 1, 1, 1),
            spatial_strides=(1, 2, 2, 2),
            temporal_strides=(1, 2, 2, 2)), 64),
}


def _randomise(model, seed=0):
    """Non-trivial norms (every copy its own) and adapters, so a wrong branch
    or a missed fold changes the outputs."""
    generator = torch.Generator().manual_seed(seed)

    def rand(shape, low, high):
        return torch.rand(shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                n = module.num_features
                module.weight.copy_(rand(n, 0.5, 1.5))
                module.bias.copy_(rand(n, -0.2, 0.2))
                module.running_mean.copy_(rand(n, -0.2, 0.2))
                module.running_var.copy_(rand(n, 0.5, 1.5))
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.copy_(rand(module.normalized_shape, 0.5, 1.5))
                module.bias.copy_(rand(module.normalized_shape, -0.2, 0.2))
            elif isinstance(module, WeightAlteredConv):
                for adapter in module.alteration.values():
                    adapter.weight.copy_(rand(adapter.weight.shape, -.2, .2))
        for name, param in model.named_parameters():
            if 'pos_embed' in name:
                param.copy_(rand(param.shape, -1, 1))


@pytest.mark.parametrize('name', list(TINY))
def test_deploys_to_the_stock_recognizer3d(name):
    stock_type = TINY[name]['backbone']['type']
    cfg = frame_flexible_model(TINY[name], COUNTS)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    _randomise(model)
    model.eval()
    any_count = stock_type != 'VisionTransformer'
    frames = COUNTS + ((6, ) if any_count else ())
    if not any_count:
        with pytest.raises(ValueError, match='only a trained count'):
            build_deployed(model, cfg, 6)
    for count in frames:
        deployed = build_deployed(model, cfg, count)
        assert type(deployed).__name__ == 'Recognizer3D'
        assert type(deployed.backbone).__name__ == stock_type
        assert not [
            type(m).__name__ for m in deployed.modules()
            if type(m).__module__.startswith('mmffn')
        ]
        outputs = compare_outputs(model, deployed, count, size=SIZE)
        assert outputs['max_abs_diff'] <= TOLERANCE * max(
            1.0, outputs['max_abs_output']), (count, outputs)
    # Another branch changes the function: the comparison can fail.
    other = compare_outputs(model, build_deployed(model, cfg, 8), 8, size=SIZE)
    assert other['max_abs_diff'] <= TOLERANCE
    if any_count:
        wrong = compare_outputs(
            model, build_deployed(model, cfg, 4), 8, size=SIZE)
        assert wrong['max_abs_diff'] > 1e-3
