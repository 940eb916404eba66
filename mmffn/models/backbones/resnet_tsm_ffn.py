"""ResNetTSM_FFN: MMAction2's ResNetTSM turned into a Frame Flexible Network.

The structure is built by ``ResNetTSM`` itself; this class then swaps every
BatchNorm for a :class:`RateSpecificBatchNorm` and puts a
:class:`WeightAlteredConv2d` in place of every block's first conv. All
convolutions stay shared, and their state-dict keys stay those of ResNetTSM.

The frame count is module state set by one context manager::

    with backbone.frame_count(8):
        feats = backbone(imgs)  # imgs: (N * 8, C, H, W)

It selects the branch (rate-specific BN copy and adapter) and gives every
temporal module (temporal shift, temporal pool, non-local) the real count, so
no clip ever exchanges features with its neighbour in the batch.
"""
from contextlib import contextmanager
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet import BasicBlock, Bottleneck
from mmaction.models.backbones.resnet_tsm import (NL3DWrapper, ResNetTSM,
                                                  TemporalShift)
from mmaction.registry import MODELS
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import _load_checkpoint

from ...utils import check_frame_count, check_frame_counts
from ..layers import (RateSpecificBatchNorm, RateSpecificLayer,
                      WeightAlteredConv2d, convert_to_rate_specific_bn)
from .pretrained_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)

BRANCH_POLICIES = ('nearest', 'strict')


def _is_temporal_pool(module: nn.Module) -> bool:
    # ResNetTSM defines TemporalPool inside a method, so it has no importable
    # class; recognise it by name and by what it holds.
    return (type(module).__name__ == 'TemporalPool'
            and hasattr(module, 'max_pool3d')
            and hasattr(module, 'num_segments'))


@MODELS.register_module()
class ResNetTSM_FFN(ResNetTSM):
    """ResNetTSM with FFN's rate-specific norms and weight alteration.

    Accepts every argument of :class:`mmaction.models.ResNetTSM` (and of
    ``ResNet``), plus the FFN ones below. ``pretrained`` may name a local
    torchvision ResNet state dict, an MMAction2 TSM/ResNet checkpoint or a
    plain backbone state dict; the format is read from the keys, so
    ``pretrained2d``/``torchvision_pretrain`` are accepted but not needed.

    Args:
        depth (int): Depth of the ResNet, from ``{18, 34, 50, 101, 152}``.
        num_segments_list (Sequence[int]): Trained frame counts, distinct and
            sorted ascending. Defaults to ``(4, 8, 16)``.
        num_segments (int, optional): Frame count used outside a
            :meth:`frame_count` context. Defaults to the highest trained
            count.
        branch_policy (str): Branch used for a count that was not trained:
            ``'nearest'`` (nearest trained count, ties to the higher one) or
            ``'strict'`` (raise ValueError). The temporal modules always use
            the real count. Defaults to ``'nearest'``.
        weight_alteration (bool): Whether to add the per-count adapters in
            front of every block's first conv. Defaults to True.
        alteration_init_std (float): Std of the adapters' normal init.
            Defaults to 1e-3.
        **kwargs: Arguments of ``ResNetTSM`` (``shift_div``, ``shift_place``,
            ``is_shift``, ``temporal_pool``, ``non_local``, ``norm_cfg``,
            ``norm_eval``, ``partial_bn``, ``frozen_stages``, ...).
    """

    def __init__(self,
                 depth: int,
                 num_segments_list=(4, 8, 16),
                 num_segments: Optional[int] = None,
                 branch_policy: str = 'nearest',
                 weight_alteration: bool = True,
                 alteration_init_std: float = 1e-3,
                 **kwargs) -> None:
        counts = check_frame_counts(num_segments_list, 'num_segments_list')
        if branch_policy not in BRANCH_POLICIES:
            raise ValueError(f'branch_policy must be one of {BRANCH_POLICIES}'
                             f', got {branch_policy!r}')
        if isinstance(alteration_init_std, bool) or not isinstance(
                alteration_init_std, (int, float)) or alteration_init_std < 0:
            raise ValueError('alteration_init_std must be a non-negative '
                             f'float, got {alteration_init_std!r}')
        if kwargs.get('with_cp', False):
            # Checkpointing recomputes blocks during backward, after the
            # frame_count context that selected the branch has exited.
            raise NotImplementedError(
                'ResNetTSM_FFN does not support with_cp=True: the recomputed '
                'forward would run with a different frame count')
        default = counts[-1] if num_segments is None else check_frame_count(
            num_segments, 'num_segments')
        if kwargs.get('temporal_pool', False):
            odd = [c for c in counts + (default, ) if c % 2]
            if odd:
                raise ValueError('temporal_pool halves the frames, so every '
                                 'frame count must be even; got '
                                 f'{odd[0]} in {counts}')
        super().__init__(depth, num_segments=default, **kwargs)
        self.num_segments_list = counts
        self.branch_policy = branch_policy
        self.weight_alteration = bool(weight_alteration)
        self.alteration_init_std = float(alteration_init_std)
        self._frame_count = default
        branch = self.branch_for(default)  # raises for 'strict' and unknown
        if self.weight_alteration:
            self._add_weight_alteration(branch)
        convert_to_rate_specific_bn(self, counts, active=branch)
        self._set_frame_count(default)

    # --- structure ---------------------------------------------------------
    def _add_weight_alteration(self, branch: int) -> None:
        """Put an adapter in front of conv1 of every residual block.

        In 'blockres' mode ResNetTSM wraps ``block.conv1.conv`` in a
        TemporalShift, so the adapter sees the shifted input; otherwise
        (shift_place='block', unshifted blocks of very deep nets, or
        is_shift=False) the conv itself is replaced.
        """
        for module in list(self.modules()):
            if not isinstance(module, (BasicBlock, Bottleneck)):
                continue
            conv_module = module.conv1
            holder = conv_module.conv if isinstance(
                conv_module.conv, TemporalShift) else conv_module
            attr = 'net' if holder is not conv_module else 'conv'
            altered = WeightAlteredConv2d.from_conv(
                getattr(holder, attr),
                self.num_segments_list,
                init_std=self.alteration_init_std,
                active=branch)
            setattr(holder, attr, altered)

    # --- frame count -------------------------------------------------------
    @property
    def active_frame_count(self) -> int:
        """int: The frame count the next forward assumes."""
        return self._frame_count

    def branch_for(self, num_frames: int) -> int:
        """The trained count whose branch serves ``num_frames`` frames.

        Args:
            num_frames (int): Frames per clip.

        Returns:
            int: A member of ``num_segments_list``.
        """
        count = check_frame_count(num_frames)
        if count in self.num_segments_list:
            return count
        if self.branch_policy == 'strict':
            raise ValueError(
                f'{count} frames were not trained (branch_policy="strict"); '
                f'trained frame counts: {self.num_segments_list}')
        # Nearest trained count; on a tie the higher one, as FFN does.
        return min(self.num_segments_list, key=lambda c: (abs(c - count), -c))

    # (module, field, kind) of every frame-aware module; see _frame_modules.
    _frame_module_cache: Optional[Tuple[tuple, ...]] = None

    def _frame_modules(self) -> Tuple[tuple, ...]:
        """(module, field, kind) of every frame-aware module.

        ``field`` is the key in the module's ``__dict__`` that holds its
        state (``_active`` of rate-specific layers, ``num_segments`` of the
        temporal modules and of the backbone itself, which MMAction2's
        recognizers read for ``fcn_test``); ``kind`` is ``'branch'`` (takes
        the branch), ``'frames'`` (the real count) or ``'pooled'`` (half of
        it, behind a temporal pool).

        Collected once: the structure is fixed after ``__init__`` (SyncBN
        conversion swaps the BatchNorms inside the rate-specific copies, not
        these modules), and walking every module per switch is slow.
        """
        if self._frame_module_cache is None:
            found = [(self, 'num_segments', 'frames')]
            for module in self.modules():
                if isinstance(module, RateSpecificLayer):
                    # Every branch exists, so writing _active directly
                    # skips no check that the property setter would make.
                    if module.frame_counts != self.num_segments_list:
                        raise RuntimeError(
                            f'{type(module).__name__} has frame counts '
                            f'{module.frame_counts}, the backbone '
                            f'{self.num_segments_list}')
                    found.append((module, '_active', 'branch'))
            for index, layer_name in enumerate(self.res_layers):
                # With temporal_pool, layer2 pools T -> T // 2 before its
                # blocks.
                pooled = self.temporal_pool and index >= 1
                for module in getattr(self, layer_name).modules():
                    if _is_temporal_pool(module):
                        found.append((module, 'num_segments', 'frames'))
                    elif isinstance(module, (TemporalShift, NL3DWrapper)):
                        found.append((module, 'num_segments',
                                      'pooled' if pooled else 'frames'))
            self._frame_module_cache = tuple(found)
        return self._frame_module_cache

    def _frame_settings(self, num_frames: int):
        """(module, field, value) for every frame-aware module."""
        values = dict(
            branch=self.branch_for(num_frames),
            frames=num_frames,
            pooled=num_frames // 2)
        for module, field, kind in self._frame_modules():
            yield module, field, values[kind]

    def _set_frame_count(self, num_frames: int) -> List[tuple]:
        """Apply ``num_frames`` everywhere; return what it replaced."""
        if self.temporal_pool and num_frames % 2:
            raise ValueError('temporal_pool halves the frames, so the frame '
                             f'count must be even, got {num_frames}')
        previous = [(self, '_frame_count', self._frame_count)]
        for module, field, value in list(self._frame_settings(num_frames)):
            state = vars(module)  # plain ints: no nn.Module bookkeeping
            previous.append((module, field, state[field]))
            state[field] = value
        self._frame_count = num_frames
        return previous

    @contextmanager
    def frame_count(self, num_frames: int):
        """Run the backbone on clips of ``num_frames`` frames.

        Inside the context every rate-specific norm and adapter uses the
        branch ``branch_for(num_frames)`` and every temporal module uses
        ``num_frames`` itself. On exit the previous state comes back, so
        contexts nest.

        Args:
            num_frames (int): Frames per clip of the next inputs.

        Yields:
            int: The branch (trained frame count) in use.
        """
        num_frames = check_frame_count(num_frames)
        previous = self._set_frame_count(num_frames)
        try:
            yield self.branch_for(num_frames)
        finally:
            for module, field, value in reversed(previous):
                vars(module)[field] = value

    def forward(self, x: torch.Tensor):
        """Extract features of ``x`` shaped ``(N * T, C, H, W)``.

        ``T`` is the active frame count (see :meth:`frame_count`).
        """
        if x.shape[0] % self._frame_count:
            raise ValueError(
                f'ResNetTSM_FFN got a batch of {x.shape[0]} frames, which is '
                f'not a multiple of the frame count {self._frame_count}; '
                'inputs hold whole clips, (N * T, C, H, W), with T set by '
                '`with backbone.frame_count(T):`')
        return super().forward(x)

    # --- training-mode helpers ---------------------------------------------
    def train(self, mode: bool = True) -> 'ResNetTSM_FFN':
        """Set train/eval mode (with ResNet's norm_eval, partial_bn and
        frozen stages) and return ``self`` as ``nn.Module.train`` promises;
        ResNet's override returns None, which breaks ``model.eval()``
        chaining."""
        super().train(mode)
        return self

    def _partial_bn(self) -> None:
        """Freeze every BatchNorm2d except the first one, as ResNet does,
        with all frame-count copies of each.

        ResNet counts ``nn.BatchNorm2d`` modules; counting the copies would
        freeze the stem's copies of the 2nd and later counts, and counting
        every norm would also freeze the BatchNorm3d of non-local blocks.
        """
        logger = MMLogger.get_current_instance()
        logger.info('Freezing BatchNorm2D except the first one (all its '
                    'frame-count copies).')
        norms = [
            m for m in self.modules() if isinstance(m, RateSpecificBatchNorm)
            and isinstance(m.branch(), nn.BatchNorm2d)
        ]
        for norm in norms[1:]:
            for bn in norm.branches.values():
                bn.eval()
                bn.weight.requires_grad = False
                bn.bias.requires_grad = False

    # --- initialisation ----------------------------------------------------
    def reset_weight_alteration(self) -> None:
        """Draw every adapter from normal(0, alteration_init_std)."""
        for module in self.modules():
            if isinstance(module, WeightAlteredConv2d):
                module.reset_alteration(self.alteration_init_std)

    def init_weights(self) -> None:
        """Initialise from scratch, then from ``pretrained`` if given.

        Unlike ResNetTSM this works with ``pretrained=None`` whatever
        ``pretrained2d`` says, and the adapters end at normal(0,
        ``alteration_init_std``) instead of being overwritten by the
        Kaiming init of convolutions.
        """
        if self.pretrained is not None and not isinstance(
                self.pretrained, str):
            raise TypeError('pretrained must be a str or None, got '
                            f'{type(self.pretrained).__name__}')
        # BaseModule's init (init_cfg: Kaiming convs, constant BN) skips
        # ResNet(TSM).init_weights' own checkpoint logic on purpose.
        BaseModule.init_weights(self)
        # Adapters before loading, so an FFN checkpoint's adapters win.
        self.reset_weight_alteration()
        if self.pretrained:
            self.load_pretrained(self.pretrained)

    def load_pretrained(self, filename: str) -> 'PretrainedConversion':
        """Load a local ResNet/TSM checkpoint into every branch.

        Each pretrained BatchNorm fills every rate-specific copy; adapters
        keep their init; classifier weights are ignored.

        Args:
            filename (str): A torchvision ResNet state dict, an MMAction2
                (TSM) checkpoint or a plain backbone state dict.

        Returns:
            PretrainedConversion: What was loaded, missing and unused.
        """
        checkpoint = _load_checkpoint(filename, map_location='cpu')
        try:
            result = convert_pretrained_state_dict(checkpoint,
                                                   self.state_dict())
        except ValueError as error:
            raise ValueError(f'{filename}: {error}') from error
        name = f'ResNetTSM_FFN(depth={self.depth})'
        if not result.state_dict and not result.mismatched:
            raise ValueError(
                f'No weight of {filename} fits {name}: it is not a ResNet, '
                'ResNetTSM or FFN checkpoint (first keys: '
                f'{result.unexpected[:5]})')
        if result.missing or result.mismatched:
            details = []
            if result.missing:
                details.append(f'{len(result.missing)} backbone weights '
                               f'missing (e.g. {result.missing[:3]})')
            if result.mismatched:
                details.append(f'{len(result.mismatched)} with another shape '
                               f'(e.g. {result.mismatched[:3]})')
            raise ValueError(f'{filename} does not fit {name}: ' +
                             '; '.join(details))
        self.load_state_dict(result.state_dict, strict=False)
        logger = MMLogger.get_current_instance()
        logger.info(f'{name}: loaded {len(result.state_dict)} tensors from '
                    f'{filename}')
        if result.optional_missing:
            logger.info('Not in the checkpoint, kept at init '
                        f'({len(result.optional_missing)}): '
                        f'{result.optional_missing}')
        if result.unexpected:
            logger.warning('Unused backbone weights of the checkpoint '
                           f'({len(result.unexpected)}): {result.unexpected}')
        if result.ignored:
            logger.info(f'Ignored non-backbone weights ({len(result.ignored)})'
                        f': {result.ignored}')
        return result

    # --- cost --------------------------------------------------------------
    def parameter_overhead(self) -> Dict[str, int]:
        """Parameters FFN adds to the same ResNetTSM.

        Returns:
            dict: ``rate_specific_norm`` (extra BN copies beyond one),
            ``weight_alteration`` (all adapters) and ``total``.
        """
        norm = 0
        alteration = 0
        for module in self.modules():
            if isinstance(module, RateSpecificBatchNorm):
                per_copy = sum(p.numel() for p in module.branch().parameters())
                norm += per_copy * (len(module.branches) - 1)
            elif isinstance(module, WeightAlteredConv2d):
                alteration += sum(p.numel()
                                  for p in module.alteration.parameters())
        return dict(
            rate_specific_norm=norm,
            weight_alteration=alteration,
            total=norm + alteration)
