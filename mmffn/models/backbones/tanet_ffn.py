"""TANet_FFN: MMAction2's TANet (TEA's closest relative) made frame flexible.

``TANet`` builds the structure; :class:`FrameFlexible2DMixin` gives every
BatchNorm (the ResNet's 2d ones and the 1d one of each TAM's local module
``L``) a copy per frame count and puts an adapter in front of the first conv
of every Bottleneck. All convolutions, ``L``'s Conv1d included, stay shared.

What is per count in TAM: its global module ``G`` starts with
``nn.Linear(T, alpha * T)`` and ``BatchNorm1d(alpha * T)``, weights whose
shape depends on the count ``T``, so ``G`` cannot be shared: every TAM holds
one whole ``G`` per trained count (a :class:`RateSpecificModule`, keys
``...tam.G.branches.<T>.<i>...``); the BatchNorm1d inside each copy is that
copy's own plain BatchNorm. A count ``T'`` that was not trained uses the
nearest trained branch ``T`` (``branch_policy='nearest'``): ``L``, the
norms and the adapters of ``T`` see the real ``T'`` frames, and ``G_T``
gets the pooled temporal descriptor (length ``T'``) linearly resampled to
length ``T`` (``align_corners=True``). It returns ``K`` kernel weights
whatever the count, so the adaptive temporal conv then runs on all ``T'``
frames. At a trained count nothing is resampled: each branch is exactly a
stock ``TANet(num_segments=T)``.

TANet requires at least 3 frames; trained counts and ``num_segments`` below
3 are refused at build time, and so is running fewer than 3 frames.
"""
from typing import Any, Dict, Optional, Tuple

import torch.nn as nn
from mmaction.models.backbones.resnet import Bottleneck
from mmaction.models.backbones.tanet import TANet
from mmaction.models.common import TAM
from mmaction.registry import MODELS
from mmengine.logging import MMLogger

from ..layers import RateSpecificModule
from .checkpoint_conversion import PretrainedConversion
from .frame_flexible_2d import FrameFlexible2DMixin

__all__ = ['TANet_FFN']

MIN_FRAMES = 3  # TANet's own limit (``assert num_segments >= 3``)


def _global_module(tam: TAM, count: int) -> nn.Module:
    """A freshly initialised TAM global module ``G`` for ``count`` frames,
    built by TAM itself so it matches the installed MMAction2."""
    return TAM(
        in_channels=tam.in_channels,
        num_segments=count,
        alpha=tam.alpha,
        adaptive_kernel_size=tam.adaptive_kernel_size,
        beta=tam.beta,
        conv1d_kernel_size=tam.conv1d_kernel_size,
        adaptive_convolution_stride=tam.adaptive_convolution_stride,
        adaptive_convolution_padding=tam.adaptive_convolution_padding,
        init_std=tam.init_std).G


def _global_copy_prefix(key: str) -> Optional[str]:
    """``'<...>.tam.G.branches.<T>.'`` of a per-count G key, else None."""
    marker = '.tam.G.branches.'
    start = key.find(marker)
    if start < 0:
        return None
    end = key.index('.', start + len(marker)) + 1
    return key[:end]


@MODELS.register_module()
class TANet_FFN(FrameFlexible2DMixin, TANet):
    """:class:`mmaction.models.TANet` with FFN's rate-specific norms,
    per-count TAM global modules ``G`` and weight alteration.

    Takes the arguments of ``TANet`` (and of ``ResNet``) as the stock class
    does (``TANet_FFN(50, 8)``: a positional ``num_segments`` is the FFN
    ``num_segments``), and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`; every count must be at least 3. TA-blocks
    need Bottlenecks, so ``depth`` is one of ``{50, 101, 152}``.
    ``pretrained`` is a local checkpoint, loaded by :meth:`init_weights`:
    a stock TANet (its ``G`` fills the copy of its own count; the other
    copies keep their init), a TANet_FFN, or a ResNet/torchvision ResNet
    (every TAM keeps its init).
    """

    adapter_sites = ((Bottleneck, 'conv1'), )
    pretrained_kinds = 'a ResNet, TANet or TANet_FFN'
    # TANet runs ResNet's init_weights in its constructor, which would load
    # ``pretrained`` with stock keys.
    keep_pretrained_from_stock = True

    def _stock_arguments(self, args: tuple, kwargs: Dict[str, Any],
                         counts: Tuple[int, ...],
                         default: int) -> Tuple[tuple, Dict[str, Any]]:
        for count in counts + (default, ):
            if count < MIN_FRAMES:
                raise ValueError(
                    f'TANet needs at least {MIN_FRAMES} frames per clip, got '
                    f'{count} (num_segments_list={counts}, '
                    f'num_segments={default})')
        return super()._stock_arguments(args, kwargs, counts, default)

    def _before_conversion(self, counts: Tuple[int, ...],
                           default: int) -> None:
        """One ``G`` per count in every TAM (its weights are shaped by the
        count), the stock one kept for the default count. The conversion
        then leaves rate-specific layers and the plain BatchNorm1d inside
        the copies alone."""
        for tam in [m for m in self.modules() if isinstance(m, TAM)]:
            stock = tam.G
            tam.G = RateSpecificModule.from_factory(
                lambda count, tam=tam: _global_module(tam, count),
                counts,
                temporal_dim=-1,
                existing={default: stock} if default in counts else None)
            tam.G.train(stock.training)

    def _set_frame_count(self, num_frames: int):
        if num_frames < MIN_FRAMES:
            raise ValueError(f'TANet needs at least {MIN_FRAMES} frames per '
                             f'clip, got {num_frames}')
        return super()._set_frame_count(num_frames)

    def _init_from_scratch(self) -> None:
        # TANet initialises in its constructor (ResNet's init_cfg before the
        # TAMs exist, then TAM's defaults) and its init_weights is a no-op;
        # every copy was made from that init, so nothing is redrawn here.
        pass

    # --- pretrained ----------------------------------------------------------
    def _adjust_conversion(self, result: PretrainedConversion,
                           checkpoint_keys) -> PretrainedConversion:
        """Let TAM weights a checkpoint cannot provide keep their init.

        * A G copy any of whose tensors has another shape in the checkpoint
          (a stock TANet of another count) keeps its init as a whole.
        * A checkpoint without any TAM weight (a ResNet, torchvision or
          ResNetTSM one) leaves every TAM at its init.
        """
        has_tam = any('.tam.' in key for key in checkpoint_keys)
        keep_init = set()
        for entry in result.mismatched:
            prefix = _global_copy_prefix(entry.split(':')[0])
            if prefix is not None:
                keep_init.add(prefix)

        def kept(key):
            if not has_tam:
                return '.tam.' in key
            return _global_copy_prefix(key) in keep_init

        copies = {
            _global_copy_prefix(k)
            for k in self.state_dict() if _global_copy_prefix(k)
        }
        if has_tam and copies and copies <= keep_init:
            MMLogger.get_current_instance().warning(
                'No TAM global module G of the checkpoint fits any trained '
                f'frame count {self.num_segments_list}: all are kept at init')
        return PretrainedConversion(
            type(result.state_dict)(
                (k, v) for k, v in result.state_dict.items() if not kept(k)),
            missing=[k for k in result.missing if not kept(k)],
            optional_missing=list(result.optional_missing) +
            [k for k in result.missing if kept(k)] +
            [k for k in result.state_dict if kept(k)] + [
                m.split(':')[0]
                for m in result.mismatched if kept(m.split(':')[0])
            ],
            mismatched=[
                m for m in result.mismatched if not kept(m.split(':')[0])
            ],
            unexpected=result.unexpected,
            ignored=result.ignored)
