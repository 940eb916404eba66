"""FrameFlexibleMixin: a stock MMAction2 backbone made frame flexible.

One mechanism for every supported backbone. A backbone class
``X_FFN(FrameFlexibleMixin, X)`` lets MMAction2's ``X`` build its structure,
then :meth:`FrameFlexibleMixin._make_frame_flexible` converts it in place:

* every normalisation layer gets one copy per trained frame count
  (``convert_to_rate_specific_norms``): a BatchNorm (1d, 2d, 3d, SyncBN)
  becomes a :class:`RateSpecificBatchNorm`, a LayerNorm, GroupNorm or
  InstanceNorm per-count affine parameters;
* the first conv of every residual block named in the family's
  ``adapter_sites`` becomes a :class:`WeightAlteredConv2d` or
  :class:`WeightAlteredConv3d` (per-count adapters; behind the temporal
  shift where there is one);
* every module holding an int ``num_segments`` (temporal shift, temporal
  pool, non-local wrapper, TAM, the backbone itself) follows the frame count.

The frame count is module state set by one context manager::

    with backbone.frame_count(8):
        feats = backbone(imgs)  # imgs: (N * 8, C, H, W)

It selects the branch (rate-specific copies, adapters) and gives every
temporal module the real count, so no clip exchanges features with its
neighbour in the batch. The family facts are class attributes
(``adapter_sites``) and two small hooks (``_frame_kind``,
``_init_from_scratch``), not a copy of this logic.
"""
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet_tsm import TemporalShift
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import _load_checkpoint

from ...utils import check_frame_count, check_frame_counts
from ..layers import (RateSpecificBatchNorm, RateSpecificLayer,
                      WeightAlteredConv, convert_to_rate_specific_norms,
                      is_rate_specific_norm, weight_altered_conv)
from .pretrained_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)

BRANCH_POLICIES = ('nearest', 'strict')


def _plain_conv_site(module: nn.Module, path: str) -> Tuple[nn.Module, str]:
    """(holder, attribute) of the plain conv behind ``module.<path>``.

    ``path`` may be dotted (``'conv.0'``). Looks through a ConvModule
    (``.conv``) and a TemporalShift (``.net``), so an adapter put there sees
    the shifted input.
    """
    *parents, attr = path.split('.')
    holder = module
    for name in parents:
        holder = getattr(holder, name)
    while True:
        child = getattr(holder, attr)
        if isinstance(child, TemporalShift):
            holder, attr = child, 'net'
        elif isinstance(getattr(child, 'conv', None), nn.Module):
            holder, attr = child, 'conv'  # ConvModule
        else:
            return holder, attr


class FrameFlexibleMixin:
    """Frame-count switching for a stock MMAction2 backbone (2D or 3D).

    Subclasses put the mixin first (``class X_FFN(FrameFlexibleMixin, X)``),
    call ``X.__init__`` and then :meth:`_make_frame_flexible`, and state:

    * ``adapter_sites``: ``((block class, attribute path of its first
      conv), ...)``; an adapter goes in front of that conv in every such
      block;
    * ``pretrained_kinds``: what ``pretrained`` may name, for errors;
    * optionally ``_frame_kind`` (a module that sees fewer frames),
      ``_init_from_scratch`` (the stock init without any checkpoint) and
      ``_check_input`` (the input layout; 3D families, see
      :class:`FrameFlexible3DMixin`).
    """
    adapter_sites: Sequence[Tuple[type, str]] = ()
    pretrained_kinds = 'a checkpoint of the same backbone or its FFN version'

    # --- construction ------------------------------------------------------
    @staticmethod
    def _check_frame_arguments(num_segments_list, num_segments, branch_policy,
                               alteration_init_std,
                               kwargs) -> Tuple[Tuple[int, ...], int]:
        """Validate the FFN arguments; return (counts, default count)."""
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
                'frame-flexible backbones do not support with_cp=True: the '
                'recomputed forward would run with a different frame count')
        default = counts[-1] if num_segments is None else check_frame_count(
            num_segments, 'num_segments')
        return counts, default

    def _make_frame_flexible(self,
                             counts: Tuple[int, ...],
                             default: int,
                             branch_policy: str,
                             weight_alteration: bool,
                             alteration_init_std: float,
                             rate_specific_norms: bool = True) -> None:
        """Convert the built stock structure in place (see module doc).
        ``rate_specific_norms=False`` keeps one norm shared by every count
        (the paper's "without specialised normalisation" ablation)."""
        self.num_segments_list = counts
        self.branch_policy = branch_policy
        self.weight_alteration = bool(weight_alteration)
        self.alteration_init_std = float(alteration_init_std)
        self.rate_specific_norms = bool(rate_specific_norms)
        self._frame_count = default
        branch = self.branch_for(default)  # raises for 'strict' and unknown
        if self.weight_alteration:
            self._add_weight_alteration(branch)
        if self.rate_specific_norms:
            convert_to_rate_specific_norms(self, counts, active=branch)
        self._set_frame_count(default)

    def _add_weight_alteration(self, branch: int) -> None:
        """Put an adapter in front of the first conv of every block named in
        ``adapter_sites``."""
        sites = dict(self.adapter_sites)
        for module in list(self.modules()):
            attr = sites.get(type(module))
            if attr is None:
                continue
            holder, attr = _plain_conv_site(module, attr)
            altered = weight_altered_conv(
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

    def _frame_kind(self, name: str, module: nn.Module) -> str:
        """``'frames'`` (the real count) or ``'pooled'`` (half of it) for a
        temporal module; families with a temporal pool override it."""
        return 'frames'

    # (module, field, kind) of every frame-aware module; see _frame_modules.
    _frame_module_cache: Optional[Tuple[tuple, ...]] = None

    def _frame_modules(self) -> Tuple[tuple, ...]:
        """(module, field, kind) of every frame-aware module.

        ``field`` is the key in the module's ``__dict__`` that holds its
        state: ``_active`` of rate-specific layers (kind ``'branch'``), or
        ``num_segments`` of every module holding one, the backbone itself
        included (MMAction2's recognizers read it for ``fcn_test``).

        Collected once: the structure is fixed after ``__init__`` (SyncBN
        conversion swaps the BatchNorms inside the rate-specific copies, not
        these modules), and walking every module per switch is slow.
        """
        if self._frame_module_cache is None:
            # 3D backbones hold no num_segments of their own.
            found = [(self, 'num_segments', 'frames')] if isinstance(
                vars(self).get('num_segments'), int) else []
            for name, module in self.named_modules():
                if isinstance(module, RateSpecificLayer):
                    # Every branch exists, so writing _active directly
                    # skips no check that the property setter would make.
                    if module.frame_counts != self.num_segments_list:
                        raise RuntimeError(
                            f'{type(module).__name__} has frame counts '
                            f'{module.frame_counts}, the backbone '
                            f'{self.num_segments_list}')
                    found.append((module, '_active', 'branch'))
                elif module is not self and isinstance(
                        vars(module).get('num_segments'), int):
                    found.append((module, 'num_segments',
                                  self._frame_kind(name, module)))
            self._frame_module_cache = tuple(found)
        return self._frame_module_cache

    def _set_frame_count(self, num_frames: int) -> List[tuple]:
        """Apply ``num_frames`` everywhere; return what it replaced."""
        values = dict(
            branch=self.branch_for(num_frames),
            frames=num_frames,
            pooled=num_frames // 2)
        previous = [(self, '_frame_count', self._frame_count)]
        for module, field, kind in self._frame_modules():
            state = vars(module)  # plain ints: no nn.Module bookkeeping
            previous.append((module, field, state[field]))
            state[field] = values[kind]
        self._frame_count = num_frames
        return previous

    @contextmanager
    def frame_count(self, num_frames: int):
        """Run the backbone on clips of ``num_frames`` frames.

        Inside the context every rate-specific layer uses the branch
        ``branch_for(num_frames)`` and every temporal module uses
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

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` holds whole clips of the active
        count; 2D layout ``(N * T, C, H, W)``. 3D families override it."""
        if x.shape[0] % self._frame_count:
            raise ValueError(
                f'{type(self).__name__} got a batch of {x.shape[0]} frames, '
                'which is not a multiple of the frame count '
                f'{self._frame_count}; inputs hold whole clips, '
                '(N * T, C, H, W), with T set by '
                '`with backbone.frame_count(T):`')

    def forward(self, x: torch.Tensor):
        """Extract features of ``x``: ``(N * T, C, H, W)`` for 2D backbones,
        ``(N, C, T, H, W)`` for 3D ones.

        ``T`` is the active frame count (see :meth:`frame_count`).
        """
        self._check_input(x)
        return super().forward(x)

    def train(self, mode: bool = True):
        """Set train/eval mode (with the stock class's norm_eval and frozen
        stages) and return ``self`` as ``nn.Module.train`` promises; some
        stock overrides return None, which breaks ``model.eval()``
        chaining."""
        super().train(mode)
        return self

    def _partial_bn(self) -> None:
        """Freeze every BatchNorm2d except the first one, as ResNet's
        ``partial_bn`` does, with all frame-count copies of each.

        ResNet counts ``nn.BatchNorm2d`` modules; counting the copies would
        freeze the stem's copies of the 2nd and later counts, and counting
        every norm would also freeze the BatchNorm3d of non-local blocks.
        """
        if not self.rate_specific_norms:
            return super()._partial_bn()  # one norm per layer, as stock
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
            if isinstance(module, WeightAlteredConv):
                module.reset_alteration(self.alteration_init_std)

    def _init_from_scratch(self) -> None:
        """The stock initialisation without any checkpoint: MMEngine's
        ``init_cfg`` (Kaiming convs, constant norms)."""
        BaseModule.init_weights(self)

    def init_weights(self) -> None:
        """Initialise from scratch, then from ``pretrained`` if given.

        The adapters end at normal(0, ``alteration_init_std``) instead of
        being overwritten by the Kaiming init of convolutions, and any
        ``pretrained`` file fills every per-count copy.
        """
        pretrained = getattr(self, 'pretrained', None)
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError('pretrained must be a str or None, got '
                            f'{type(pretrained).__name__}')
        self._init_from_scratch()
        # Adapters before loading, so an FFN checkpoint's adapters win.
        self.reset_weight_alteration()
        if pretrained:
            self.load_pretrained(pretrained)

    def _describe(self) -> str:
        depth = getattr(self, 'depth', None)
        return type(self).__name__ + (f'(depth={depth})' if depth else '')

    def _adjust_conversion(self, result: PretrainedConversion,
                           checkpoint_keys) -> PretrainedConversion:
        """Hook for family facts about checkpoints: move weights a
        checkpoint may not provide (e.g. count-shaped ones) to
        ``optional_missing``, or raise ValueError for a layout the family
        refuses. Default: ``result`` unchanged."""
        return result

    def _resize_pretrained(self, key: str, tensor: torch.Tensor,
                           shape: torch.Size) -> Optional[torch.Tensor]:
        """Hook for weights shaped by the frame count: ``tensor`` (from a
        checkpoint, or the stock twin) made into ``shape`` for ``key``, or
        None to report it as mismatched. Default: None."""
        return None

    def load_pretrained(self, filename: str) -> PretrainedConversion:
        """Load a local checkpoint into every branch.

        Each pretrained norm fills every rate-specific copy; adapters keep
        their init; classifier weights are ignored.

        Args:
            filename (str): A checkpoint of the stock backbone (a torchvision
                ResNet, an MMAction2 checkpoint, a plain backbone state dict)
                or of its FFN version.

        Returns:
            PretrainedConversion: What was loaded, missing and unused.
        """
        checkpoint = _load_checkpoint(filename, map_location='cpu')
        source = checkpoint.get('state_dict', checkpoint) if isinstance(
            checkpoint, dict) else checkpoint
        try:
            result = convert_pretrained_state_dict(
                checkpoint, self.state_dict(), resize=self._resize_pretrained)
            result = self._adjust_conversion(result, list(source))
        except ValueError as error:
            raise ValueError(f'{filename}: {error}') from error
        name = self._describe()
        if not result.state_dict and not result.mismatched:
            raise ValueError(
                f'No weight of {filename} fits {name}: it is not '
                f'{self.pretrained_kinds} checkpoint (first keys: '
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
        """Parameters FFN adds to the same stock backbone.

        Returns:
            dict: ``rate_specific_norm`` (extra norm copies beyond one),
            ``weight_alteration`` (all adapters) and ``total``.
        """
        norm = 0
        alteration = 0
        for module in self.modules():
            if is_rate_specific_norm(module):
                per_copy = sum(p.numel() for p in module.branch().parameters())
                norm += per_copy * (len(module.branches) - 1)
            elif isinstance(module, WeightAlteredConv):
                alteration += sum(p.numel()
                                  for p in module.alteration.parameters())
        return dict(
            rate_specific_norm=norm,
            weight_alteration=alteration,
            total=norm + alteration)
