"""The frame counts a 3D backbone can run at, checked when the FFN
recognizer is built.

``frame_flexible_model`` accepts any counts, but a recipe whose stem
shrinks time may leave no frame for a later pooling: MMAction2's I3D
(``conv1_stride_t=2``, ``pool1_stride_t=2``, ``pool2`` of 2 frames) runs at
8 frames and fails at 4 inside torch ("Output size is too small"). The
recognizer asks :func:`smallest_count` at build time and names the counts
the recipe supports instead.

A TPN neck on a 2D recognizer (MMAction2's TPN-TSM) bounds the counts from
above: its temporal modulation max-pools time by ``downsample_scale`` (8),
and TPNHead pools space only, so a count above 8 leaves two time steps and
the classifier twice its input width ("mat1 and mat2 shapes cannot be
multiplied"). :func:`check_neck_counts_fit` names the supported counts.
"""
from typing import Optional, Tuple

import torch.nn as nn

__all__ = [
    'CountsNotSupported', 'smallest_count', 'check_counts_fit',
    'check_neck_counts_fit'
]

# Counts are searched up to this; a backbone that needs more is left alone.
_LARGEST = 1024


class CountsNotSupported(ValueError):
    """Frame counts a recipe cannot run at. ``suggested`` is the given
    counts scaled by a power of two into the supported range (the same
    ratios), which ``mmffn.apis.check_mixing`` tries next."""

    def __init__(self, message: str, suggested: Tuple[int, ...]) -> None:
        super().__init__(message)
        self.suggested = suggested


def _scaled(counts, factor: float) -> Tuple[int, ...]:
    return tuple(int(c * factor) for c in counts)


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
        factor = 2
        while min(counts) * factor < smallest:
            factor *= 2
        suggested = _scaled(counts, factor)
        raise CountsNotSupported(
            f'{owner}: {type(backbone).__name__} with conv1_stride_t='
            f'{backbone.conv1_stride_t}, pool1_stride_t='
            f'{backbone.pool1_stride_t} and with_pool2={backbone.with_pool2} '
            f'shrinks time so that counts below {smallest} leave pool2 no '
            f'frame; this recipe supports counts >= {smallest}, got frame '
            f'counts {tuple(counts)} ({small} too small). Use counts >= '
            f'{smallest} such as {suggested}, or conv1_stride_t=1 / '
            'pool1_stride_t=1 / with_pool2=False for fewer frames.', suggested)


def check_neck_counts_fit(neck: Optional[nn.Module], counts,
                          owner: str) -> None:
    """Raise if a count of ``counts`` is above what MMAction2's TPN neck on
    a 2D recognizer runs at (its smallest temporal downsample scale)."""
    from mmaction.models.necks.tpn import TPN
    if not isinstance(neck, TPN):
        return
    scales = [op.pool.kernel_size[0] for op in neck.temporal_modulation_ops]
    largest = min(scales)
    large = [count for count in counts if count > largest]
    if large:
        factor = 2
        while max(counts) / factor > largest:
            factor *= 2
        suggested = _scaled(counts, 1 / factor)
        if min(suggested) < 1 or len(set(suggested)) < len(counts):
            suggested = (largest, )
        raise CountsNotSupported(
            f'{owner}: the TPN neck max-pools time by downsample_scales='
            f'{tuple(scales)} and TPNHead keeps what is left, so a 2D model '
            f'runs at counts <= {largest}; got frame counts {tuple(counts)} '
            f'({large} too large). Use counts <= {largest} such as '
            f'{suggested}.', suggested)
