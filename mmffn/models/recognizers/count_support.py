"""The frame counts a 3D backbone can run at, checked when the FFN
recognizer is built.

``frame_flexible_model`` accepts any counts, but a recipe whose stem
shrinks time may leave no frame for a later pooling: MMAction2's I3D
(``conv1_stride_t=2``, ``pool1_stride_t=2``, ``pool2`` of 2 frames) runs at
8 frames and fails at 4 inside torch ("Output size is too small"). The
recognizer asks :func:`smallest_count` at build time and names the counts
the recipe supports instead.
"""
from typing import Optional

import torch.nn as nn

__all__ = ['smallest_count', 'check_counts_fit']

# Counts are searched up to this; a backbone that needs more is left alone.
_LARGEST = 1024


def _resnet3d_time_fits(backbone: nn.Module, frames: int) -> bool:
    """Whether every temporal pooling of a ``ResNet3d`` stem and first
    stage keeps at least one frame (mmaction/models/backbones/resnet3d.py:
    conv1 pads to ``(k - 1) // 2``, pool1 has a temporal kernel of 1,
    pool2 a kernel and stride of 2 without padding)."""
    kernel = backbone.conv1_kernel
    kernel_t = kernel[0] if isinstance(kernel, (tuple, list)) else kernel
    t = (frames + 2 * (
        (kernel_t - 1) // 2) - kernel_t) // max(1, backbone.conv1_stride_t) + 1
    if t < 1:
        return False
    if backbone.with_pool1:
        t = (t - 1) // max(1, backbone.pool1_stride_t) + 1
    strides = getattr(backbone, 'temporal_strides', None) or (1, )
    t = (t - 1) // max(1, strides[0]) + 1
    return not backbone.with_pool2 or t >= 2


def smallest_count(backbone: nn.Module) -> Optional[int]:
    """The smallest frame count ``backbone`` runs at, or None where it is
    not known (any count, or a backbone this module does not model)."""
    from mmaction.models import ResNet3d
    stock = next((cls for cls in type(backbone).__mro__
                  if cls.__module__.startswith('mmaction.')), None)
    # Only where the stock class runs ResNet3d's own stem and forward
    # (not R(2+1)D, whose forward has no pool2).
    if stock is None or not issubclass(stock, ResNet3d) or any(
            getattr(stock, name) is not getattr(ResNet3d, name)
            for name in ('forward', '_make_stem_layer')):
        return None
    for frames in range(1, _LARGEST + 1):
        if _resnet3d_time_fits(backbone, frames):
            return frames if frames > 1 else None
    return None


def check_counts_fit(backbone: nn.Module, counts, owner: str) -> None:
    """Raise if a count of ``counts`` is below :func:`smallest_count`."""
    smallest = smallest_count(backbone)
    if smallest is None:
        return
    small = [count for count in counts if count < smallest]
    if small:
        raise ValueError(
            f'{owner}: {type(backbone).__name__} with conv1_stride_t='
            f'{backbone.conv1_stride_t}, pool1_stride_t='
            f'{backbone.pool1_stride_t} and with_pool2={backbone.with_pool2} '
            f'shrinks time so that counts below {smallest} leave pool2 no '
            f'frame; this recipe supports counts >= {smallest}, got frame '
            f'counts {tuple(counts)} ({small} too small). Use counts >= '
            f'{smallest}, or conv1_stride_t=1 / pool1_stride_t=1 / '
            'with_pool2=False for fewer frames.')
