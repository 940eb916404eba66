"""Video Swin and MViT FFN models deployed at one count as the stock
Recognizer3D with the stock backbone (no mmffn module), equal to the FFN
within 1e-4: Swin at trained and untrained counts (no weight shaped by the
count), MViT at trained counts (its temporal positions are per count; the
stock MViT of ``temporal_size=T`` is branch T)."""
import pytest
import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import build_deployed, compare_outputs, frame_flexible_model

COUNTS = (2, 4)
TOLERANCE = 1e-4
_PREPROCESSOR = dict(type='ActionDataPreprocessor', format_shape='NCTHW')
TINY = {
    'SwinTransformer3D':
    dict(
        type='Recognizer3D',
        backbone=dict(
            type='SwinTransformer3D',
            arch=dict(embed_dims=16, depths=[1, 2], num_heads=[1, 2]),
            out_indices=(1, ),
            window_size=(2, 4, 4),
            pretrained=None,
            pretrained2d=True),
        cls_head=dict(type='I3DHead', in_channels=32, num_classes=3),
        data_preprocessor=_PREPROCESSOR),
    'MViT':
    dict(
        type='Recognizer3D',
        backbone=dict(
            type='MViT',
            arch=dict(
                embed_dims=16,
                num_layers=3,
                num_heads=1,
                downscale_indices=[1]),
            spatial_size=32,
            temporal_size=16,
            use_abs_pos_embed=True),
        cls_head=dict(type='MViTHead', in_channels=32, num_classes=3),
        data_preprocessor=_PREPROCESSOR),
}


def _randomise(model, seed=0):
    """Every LayerNorm copy and temporal position copy its own values, so a
    wrong branch changes the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                n = module.weight.numel()
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.2)
        for name, param in model.named_parameters():
            if '.branches.' in name and ('rel_pos_t' in name
                                         or 'pos_embed' in name):
                param.copy_(torch.randn(param.shape, generator=generator))


@pytest.mark.parametrize('family', list(TINY))
def test_deploys_to_the_stock_recognizer3d(family):
    cfg = frame_flexible_model(TINY[family], COUNTS)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    _randomise(model)
    model.eval()
    any_count = family == 'SwinTransformer3D'
    if not any_count:
        with pytest.raises(ValueError, match='only a trained count'):
            build_deployed(model, cfg, 3)
    for frames in (2, 3, 4) if any_count else COUNTS:
        deployed = build_deployed(model, cfg, frames)
        assert type(deployed).__name__ == 'Recognizer3D'
        assert type(deployed.backbone).__name__ == family
        assert not [
            type(m).__name__ for m in deployed.modules()
            if type(m).__module__.startswith('mmffn')
        ]
        if not any_count:
            assert deployed.backbone.patch_resolution[0] == frames // 2
        outputs = compare_outputs(model, deployed, frames, size=32)
        assert outputs['max_abs_diff'] <= TOLERANCE * max(
            1.0, outputs['max_abs_output']), (frames, outputs)
    # The function changes with the branch: the comparison can fail.
    two = build_deployed(model, cfg, 2)
    assert compare_outputs(model, two, 4, size=32)['max_abs_diff'] > 1e-3
