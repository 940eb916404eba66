"""Weight alteration: a per-frame-count channel adapter folded into a conv.

FFN adds, per frame count T, a depthwise 1x1 conv with a residual,
``y = x + adapter_T(x)``, on the input of a block's first conv. That is a
per-input-channel scale ``x * (1 + w_T)``, and scaling input channel ``c`` of
a convolution equals scaling the weight slice ``W[:, c]``: any kernel size,
stride, dilation and padding mode (zero, reflect, replicate and circular
padding all commute with a channel scale). So the adapter can be applied to
the weight (C_out * C_in / G * k * k multiplies, one weight-sized tensor kept
for backward) or to the activation (N * C * H * W multiplies, one
activation-sized tensor kept); both give the same values and gradients.
``forward`` scales whichever is smaller: the weight for large frames (R50 at
224 px), the activation where the maps are small (deep stages at low
resolution or small batches), where scaling a 3x3 weight of 512 x 512
channels three times per training step would cost more than the conv's own
input.

The same holds for 3D convolutions (the adapter is then a depthwise 1x1x1
conv, as in FFN's SlowFast and UniFormer): :class:`WeightAlteredConv` holds
the logic for any number of spatial dimensions, and
:class:`WeightAlteredConv2d` / :class:`WeightAlteredConv3d` are its 2D and
3D forms; :func:`weight_altered_conv` wraps whichever conv it is given.
"""
from typing import NamedTuple, Optional

import torch
import torch.nn as nn
from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
from mmcv.cnn.bricks.wrappers import Conv3d as MMCVConv3d
from torch.compiler import is_compiling

from ...utils import check_frame_counts
from .rate_specific import RateSpecificLayer

__all__ = [
    'AlterationWeight', 'WeightAlteredConv', 'WeightAlteredConv2d',
    'WeightAlteredConv3d', 'weight_altered_conv'
]

# Convs whose forward is exactly ``nn.Conv2d``'s / ``nn.Conv3d``'s: mmcv's
# wrappers (what ConvModule builds) only differ for empty inputs on
# torch < 1.4.
FOLDABLE_CONVS = (nn.Conv2d, MMCVConv2d, nn.Conv3d, MMCVConv3d)


class _FoldedWeight(NamedTuple):
    """A test forward's folded weight and what it was folded from."""
    count: int
    key: str  # the count's key in ``alteration``
    weight: torch.Tensor
    adapter: torch.Tensor
    weight_version: int
    adapter_version: int
    weight_ptr: int
    adapter_ptr: int
    folded: torch.Tensor


class AlterationWeight(nn.Module):
    """The depthwise 1x1 (1x1x1) adapter of one frame count.

    Holds ``weight`` shaped ``(C, 1, 1, 1)`` (``(C, 1, 1, 1, 1)`` for 3D)
    like a depthwise conv's weight without bias. It deliberately is not a
    conv: MMEngine's ``Kaiming`` init matches layers by class name and would
    overwrite the near-zero init (the official FFN code loses it that way).

    Args:
        channels (int): Number of input channels of the altered conv.
        spatial_dims (int): 2 for a 2D conv, 3 for a 3D one. Defaults to 2.
    """

    def __init__(self, channels: int, spatial_dims: int = 2) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.zeros(channels, 1, *([1] * spatial_dims)))

    def scale(self) -> torch.Tensor:
        """torch.Tensor: The per-channel factor ``1 + w``, shape (C,)."""
        return 1 + self.weight.view(-1)

    def extra_repr(self) -> str:
        return f'channels={self.weight.shape[0]}'


class WeightAlteredConv(RateSpecificLayer):
    """A conv whose input is rescaled by a per-frame-count adapter.

    ``forward(x)`` equals ``conv(x + adapter_T(x))`` with ``T = active``;
    it runs as one convolution with the folded weight
    ``W * (1 + w_T)`` (see the module docstring). Combined with the conv
    class it alters (:class:`WeightAlteredConv2d`,
    :class:`WeightAlteredConv3d`), whose ``_plain_conv`` it names.

    The conv keeps its own ``weight``/``bias`` names, so a wrapped conv's
    state-dict keys are unchanged; adapters add ``alteration.<T>.weight``
    (shape ``(C_in, 1, 1, 1)``, or ``(C_in, 1, 1, 1, 1)`` in 3D).

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation,
            groups, bias, padding_mode: As the plain conv.
        frame_counts (Sequence[int]): Frame counts with an adapter.
            Defaults to ``(4, 8, 16)``.
        init_std (float): Std of the adapters' normal init. Defaults to
            ``1e-3``, so training starts from the wrapped conv's function.
        active (int, optional): Count whose adapter runs. Defaults to the
            highest count.
    """
    _variants_name = 'alteration'
    _plain_conv: type = nn.Conv2d

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size,
                 stride=1,
                 padding=0,
                 dilation=1,
                 groups: int = 1,
                 bias: bool = True,
                 padding_mode: str = 'zeros',
                 frame_counts=(4, 8, 16),
                 init_std: float = 1e-3,
                 active: Optional[int] = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias, padding_mode)
        counts = check_frame_counts(frame_counts)
        if isinstance(init_std,
                      bool) or not isinstance(init_std,
                                              (int, float)) or init_std < 0:
            raise ValueError('init_std must be a non-negative float, got '
                             f'{init_std!r}')
        self.init_std = float(init_std)
        spatial_dims = len(self.kernel_size)
        self.alteration = nn.ModuleDict({
            str(count): AlterationWeight(in_channels, spatial_dims)
            for count in counts
        })
        self.active = counts[-1] if active is None else active
        self.reset_alteration()

    @classmethod
    def from_conv(cls,
                  conv: nn.Module,
                  frame_counts,
                  init_std: float = 1e-3,
                  active: Optional[int] = None) -> 'WeightAlteredConv':
        """Wrap an existing conv of this class's kind, copying its config
        and values.

        Args:
            conv (nn.Module): An ``nn.Conv2d``/``nn.Conv3d`` or mmcv's
                wrapper of it (matching the class); other subclasses are
                refused because their own forward would be silently
                bypassed.
            frame_counts (Sequence[int]): Frame counts.
            init_std (float): Std of the adapters' init.
            active (int, optional): Count whose adapter runs.
        """
        if type(conv) not in FOLDABLE_CONVS or not isinstance(
                conv, cls._plain_conv):
            raise TypeError(f'{cls.__name__} wraps a plain '
                            f'{cls._plain_conv.__name__}, got '
                            f'{type(conv).__module__}.{type(conv).__name__}')
        altered = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            frame_counts=frame_counts,
            init_std=init_std,
            active=active).to(conv.weight.device, conv.weight.dtype)
        with torch.no_grad():
            altered.weight.copy_(conv.weight)
            if conv.bias is not None:
                altered.bias.copy_(conv.bias)
        altered.weight.requires_grad_(conv.weight.requires_grad)
        if conv.bias is not None:
            altered.bias.requires_grad_(conv.bias.requires_grad)
        altered.train(conv.training)
        return altered

    def reset_alteration(self, std: Optional[float] = None) -> None:
        """Draw every adapter from normal(0, std) (default ``init_std``)."""
        std = self.init_std if std is None else std
        for adapter in self.alteration.values():
            nn.init.normal_(adapter.weight, mean=0.0, std=std)

    def _channel_shape(self) -> tuple:
        """Trailing ones that broadcast a per-channel vector over a kernel
        (or a feature map)."""
        return (1, ) * len(self.kernel_size)

    def altered_weight(self, count: Optional[int] = None) -> torch.Tensor:
        """The conv weight with the adapter of ``count`` folded in.

        Input channel ``c`` of group ``g`` sits at ``W[o, c - g * C_in/G]``
        for the outputs ``o`` of that group, hence the reshape.
        """
        count = self._active if count is None else count
        scale = self.alteration[str(count)].scale()
        groups = self.groups
        out_per_group = self.out_channels // groups
        scale = scale.view(groups, 1, -1).expand(groups, out_per_group, -1)
        scale = scale.reshape(self.out_channels, -1, *self._channel_shape())
        return self.weight * scale

    def to_static(self, count: Optional[int] = None) -> nn.Module:
        """A plain conv computing this conv at ``count`` frames (default:
        the active count), the adapter folded into its weight."""
        conv = self._plain_conv(
            self.in_channels,
            self.out_channels,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            groups=self.groups,
            bias=self.bias is not None,
            padding_mode=self.padding_mode).to(self.weight.device,
                                               self.weight.dtype)
        with torch.no_grad():
            conv.weight.copy_(self.altered_weight(count))
            if self.bias is not None:
                conv.bias.copy_(self.bias)
        return conv

    # The folded weight of the last test forward; see _fold_for_inference.
    _inference_cache: Optional[_FoldedWeight] = None

    def _fold_for_inference(self) -> _FoldedWeight:
        """Fold the active count's adapter into the weight and keep it, with
        what :meth:`forward` checks before reusing it.

        The fold is reused for the same count, the same weight and adapter
        Parameters, with the same in-place version counters and storages:
        optimizer steps and ``load_state_dict`` (in-place copies) bump a
        version, ``.to()`` and ``param.data = t`` change a storage, and
        assigning a new Parameter (or adapter) changes the object. Writes
        through ``param.data`` in place are invisible to it, as to autograd.
        """
        key = str(self._active)
        weight = self._parameters['weight']
        adapter = self._modules['alteration']._modules[key]._parameters[
            'weight']
        cache = _FoldedWeight(self._active, key, weight, adapter,
                              weight._version, adapter._version,
                              weight.data_ptr(), adapter.data_ptr(),
                              self.altered_weight())
        self._inference_cache = cache
        return cache

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Convolve ``x`` with the active count's adapter applied.

        The adapter scales the input channels. Without gradients (testing)
        the folded weight is kept between calls, so the conv costs what a
        plain conv does. In training it is folded into the weight unless the
        input is the smaller tensor (see the module docstring).
        """
        if torch.is_grad_enabled():
            if x.numel() < self.weight.numel():
                scale = self.alteration[str(self._active)].scale()
                return self._conv_forward(
                    x * scale.view(1, -1, *self._channel_shape()), self.weight,
                    self.bias)
            return self._conv_forward(x, self.altered_weight(), self.bias)
        if is_compiling():
            # torch.compile cannot trace the cache's version and storage
            # checks (a graph break per conv); in a graph the fold is one
            # multiply.
            return self._conv_forward(x, self.altered_weight(),
                                      self._parameters['bias'])
        # The checks are written out here, not in a helper: at batch 1 each
        # extra Python call per conv shows in the forward time (see
        # benchmarks/README.md, "Python work per test forward").
        cache = self._inference_cache
        weight = self._parameters['weight']
        if (cache is None or cache.count != self._active
                or cache.weight is not weight
                or cache.weight_version != weight._version
                or cache.adapter_version != cache.adapter._version
                or cache.weight_ptr != weight.data_ptr()
                or cache.adapter_ptr != cache.adapter.data_ptr()
                or self._modules['alteration']._modules[
                    cache.key]._parameters['weight'] is not cache.adapter):
            cache = self._fold_for_inference()
        return self._conv_forward(x, cache.folded, self._parameters['bias'])

    def extra_repr(self) -> str:
        return super().extra_repr() + f', active={self._active}'


class WeightAlteredConv2d(WeightAlteredConv, nn.Conv2d):
    """:class:`WeightAlteredConv` of an ``nn.Conv2d`` (adapter
    ``(C_in, 1, 1, 1)``)."""
    _plain_conv = nn.Conv2d


class WeightAlteredConv3d(WeightAlteredConv, nn.Conv3d):
    """:class:`WeightAlteredConv` of an ``nn.Conv3d`` (adapter
    ``(C_in, 1, 1, 1, 1)``, a depthwise 1x1x1 conv)."""
    _plain_conv = nn.Conv3d


def weight_altered_conv(conv: nn.Module,
                        frame_counts,
                        init_std: float = 1e-3,
                        active: Optional[int] = None) -> WeightAlteredConv:
    """Wrap a 2D or 3D conv in the matching :class:`WeightAlteredConv`."""
    for cls in (WeightAlteredConv2d, WeightAlteredConv3d):
        if isinstance(conv, cls._plain_conv):
            return cls.from_conv(conv, frame_counts, init_std, active)
    raise TypeError('weight alteration wraps a plain nn.Conv2d or nn.Conv3d, '
                    f'got {type(conv).__module__}.{type(conv).__name__}')
