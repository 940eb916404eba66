"""Builders shared by test folders (a module with a unique name: test files
import it directly; ``conftest`` is a name several folders use)."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm


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
                       num_classes: int = 5) -> dict:
    """A small RecognizerFFN config around ``backbone`` (its counts ending
    at 8 frames): TSMHead without dropout, NCHW preprocessor."""
    return dict(
        type='RecognizerFFN',
        backbone=backbone,
        cls_head=dict(
            type='TSMHead',
            num_classes=num_classes,
            in_channels=in_channels,
            num_segments=8,
            dropout_ratio=0.0,
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCHW'))
