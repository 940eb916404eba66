"""ResNetTIN_FFN: MMAction2's ResNetTIN (Temporal Interlacing Network) made
frame flexible.

``ResNetTIN`` builds the structure (a ``TemporalInterlace`` in front of the
first conv of every block, wrapped as ``conv1.conv = CombineNet(interlace,
conv)``); :class:`FrameFlexible2DMixin` gives every BatchNorm a copy per
count and puts the adapter on that conv (``conv1.conv.net2``), behind the
interlace, as ResNetTSM_FFN puts it behind the shift.

What is per count in the interlace: its ``OffsetNet`` ends in
``Linear(T, T)`` and ``Linear(T, groups)``, weights shaped by the count, so
each interlace keeps one whole OffsetNet per trained count (a
:class:`RateSpecificModule`, keys ``...net1.offset_net.branches.<T>...``),
as TANet_FFN does with TAM's ``G``; an untrained count ``T'`` gives the
nearest copy its pooled descriptor resampled from ``T'`` to ``T``
frames (the offsets it returns do not depend on the count). The
``WeightNet`` (a Conv1d over time) stays shared.

The interlace runs MMCV's ``tin_shift``, a CUDA op of full MMCV (absent in
mmcv-lite): the model builds and converts anywhere, but runs only where
full MMCV with CUDA is installed, as the stock ResNetTIN.
"""
import re
from typing import Optional, Tuple

import torch.nn as nn
from mmaction.models.backbones.resnet import BasicBlock, Bottleneck
from mmaction.models.backbones.resnet_tin import (OffsetNet, ResNetTIN,
                                                  TemporalInterlace)
from mmaction.registry import MODELS

from ..layers import RateSpecificModule
from .checkpoint_conversion import PretrainedConversion
from .frame_flexible_2d import FrameFlexible2DMixin

__all__ = ['ResNetTIN_FFN']

_OFFSET_COPY = re.compile(r'^(.*\.offset_net\.branches\.\d+\.)')


def _offset_copy(key: str) -> Optional[str]:
    """``'<...>.offset_net.branches.<T>.'`` of a per-count key, else
    None."""
    match = _OFFSET_COPY.match(key.split(':')[0])
    return None if match is None else match.group(1)


def _offset_net(interlace: TemporalInterlace, count: int) -> nn.Module:
    """A freshly initialised OffsetNet of ``interlace`` for ``count``
    frames, built by MMAction2's class (its own init included)."""
    return OffsetNet(interlace.in_channels // interlace.shift_div,
                     interlace.deform_groups, count)


@MODELS.register_module()
class ResNetTIN_FFN(FrameFlexible2DMixin, ResNetTIN):
    """:class:`mmaction.models.ResNetTIN` with FFN's rate-specific norms,
    per-count OffsetNets and weight alteration.

    Takes the arguments of ``ResNetTIN`` (and of ``ResNetTSM``/``ResNet``)
    as the stock class does, and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`. ``pretrained`` as for ResNetTSM_FFN (a
    ResNet, TSM or TIN checkpoint, e.g. the TSM one of MMAction2's TIN
    Kinetics recipe); the OffsetNet copies a checkpoint does not fit keep
    their init.
    """
    pretrained_kinds = 'a ResNet, ResNetTSM, ResNetTIN or FFN'

    @property
    def adapter_sites(self) -> Tuple[tuple, ...]:
        # With the interlace (every block: TIN's n_round is 1) the first
        # conv is CombineNet's net2; without it, the ConvModule's conv.
        path = 'conv1.conv.net2' if getattr(self, 'is_tin', True) else 'conv1'
        return ((BasicBlock, path), (Bottleneck, path))

    def _before_conversion(self, counts: Tuple[int, ...],
                           default: int) -> None:
        """One OffsetNet per count in every interlace, the stock one kept
        for the default count."""
        for interlace in [
                m for m in self.modules() if isinstance(m, TemporalInterlace)
        ]:
            stock = interlace.offset_net
            interlace.offset_net = RateSpecificModule.from_factory(
                lambda count, tin=interlace: _offset_net(tin, count),
                counts,
                temporal_dim=-1,
                existing={default: stock} if default in counts else None)

    def _adjust_conversion(self, result: PretrainedConversion,
                           checkpoint_keys) -> PretrainedConversion:
        """An OffsetNet copy the checkpoint does not fit as a whole (a
        ResNet/TSM checkpoint has none; a stock TIN fits its own count
        only) keeps its init."""
        kept = {
            _offset_copy(k)
            for k in result.missing + result.mismatched if _offset_copy(k)
        }

        def keep(key):
            return _offset_copy(key) in kept

        return PretrainedConversion(
            type(result.state_dict)(
                (k, v) for k, v in result.state_dict.items() if not keep(k)),
            missing=[k for k in result.missing if not keep(k)],
            optional_missing=list(result.optional_missing) + [
                k.split(':')[0] for k in result.missing + result.mismatched +
                list(result.state_dict) if keep(k)
            ],
            mismatched=[k for k in result.mismatched if not keep(k)],
            unexpected=result.unexpected,
            ignored=result.ignored)
