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
