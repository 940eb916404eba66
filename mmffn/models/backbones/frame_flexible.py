"""FrameFlexibleMixin: a stock MMAction2 backbone made frame flexible.

One mechanism for every supported backbone, 2D or 3D. A backbone class
``X_FFN(FrameFlexible2DMixin, X)`` or ``X_FFN(FrameFlexible3DMixin, X)``
lets MMAction2's ``X`` build its structure from the stock arguments, then
:meth:`FrameFlexibleMixin._make_frame_flexible` converts it in place:

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
        feats = backbone(imgs)  # imgs: (N * 8, C, H, W) or (N, C, 8, H, W)

It selects the branch (rate-specific copies, adapters) and gives every
temporal module the real count, so no clip exchanges features with its
neighbour in the batch. This module holds what 2D and 3D backbones share;
:class:`FrameFlexible2DMixin` and :class:`FrameFlexible3DMixin` the input
layout and initialisation of each; a family states facts (class attributes
such as ``adapter_sites``) and fills small hooks, not a copy of this logic.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmaction.models.backbones.resnet_tsm import TemporalShift
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import _load_checkpoint

from ...utils import check_frame_count, check_frame_counts
from ..layers import (RateSpecificLayer, WeightAlteredConv,
                      convert_to_rate_specific_norms, is_rate_specific_norm,
                      weight_altered_conv)
from .checkpoint_conversion import (PretrainedConversion,
                                    convert_pretrained_state_dict)
from .stock_arguments import (positional_index, stock_argument,
                              with_stock_argument)

__all__ = ['BRANCH_POLICIES', 'FrameFlexibleMixin']

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


def _restore(previous: list) -> None:
    """Undo a ``_set_frame_count`` (last change first): its entries are
    ``(module, field, value)``, or ``(modules, field, values)`` for a group
    (a tuple of modules).

    Loops written out, no call per entry: a test forward switches twice,
    and at batch 1 every Python call shows (see ``_set_frame_count``).
    """
    for target, field, value in reversed(previous):
        if type(target) is tuple:
            for module, old in zip(target, value):
                module.__dict__[field] = old
        else:
            vars(target)[field] = value


class _FrameCount:
    """The context of :meth:`FrameFlexibleMixin.frame_count` (a class: a
    generator-based context manager costs more per test forward)."""
    __slots__ = ('backbone', 'num_frames', 'previous')

    def __init__(self, backbone: 'FrameFlexibleMixin', num_frames) -> None:
        self.backbone, self.num_frames = backbone, num_frames
        self.previous = None

    def __enter__(self) -> int:
        if self.previous is not None:
            raise RuntimeError('a frame_count context is entered once; call '
                               'backbone.frame_count(T) again')
        num_frames = check_frame_count(self.num_frames)
        self.previous = self.backbone._set_frame_count(num_frames)
        return self.backbone.branch_for(num_frames)

    def __exit__(self, *exc_info) -> bool:
        _restore(self.previous)
        return False


class FrameFlexibleMixin:
    """Frame-count switching for a stock MMAction2 backbone (2D or 3D).

    Families derive from :class:`FrameFlexible2DMixin` or
    :class:`FrameFlexible3DMixin` and put the stock class second
    (``class X_FFN(FrameFlexible2DMixin, X)``). This ``__init__`` is every
    family's: it checks the FFN arguments, builds ``X`` from the stock
    arguments, converts it (see the module doc) and sets the default count.
    The FFN arguments are keyword-only, so a stock positional call
    (``ResNet3d_FFN(34, None)``, ``TimeSformer_FFN(8, 64, 16)``) means what
    it means for the stock class.

    A family states:

    * ``adapter_sites``: ``((block class, attribute path of its first
      conv), ...)``; an adapter goes in front of that conv in every such
      block. Empty: the family has no adapter site, and
      ``weight_alteration`` must be False;
    * ``pretrained_kinds``: what ``pretrained`` may name, for errors;
    * ``count_argument``: the stock parameter holding the frame count
      (2D: ``num_segments``), or None. The stock class gets the default
      count there; a stock positional value of it is read as
      ``num_segments``;
    * ``keep_pretrained_from_stock``: True where the stock constructor
      would load ``pretrained`` itself with stock keys; the stock class
      then gets ``pretrained=None`` and :meth:`init_weights` loads it into
      every copy;

    and may fill the hooks :meth:`_stock_arguments` (family checks of the
    counts, arguments of the stock class), :meth:`_before_conversion`
    (weights shaped by the count made per count), ``_frame_kind`` (a module
    that sees fewer frames), ``_init_from_scratch`` (the stock init without
    any checkpoint), ``_adjust_conversion`` and ``_resize_pretrained``
    (checkpoint facts).

    Args:
        *args: Positional arguments of the stock class, passed on as they
            are.
        num_segments_list (Sequence[int]): Trained frame counts, distinct
            and sorted ascending. Defaults to ``(4, 8, 16)``.
        num_segments (int, optional): Frame count used outside a
            :meth:`frame_count` context. Defaults to the highest trained
            count.
        branch_policy (str): Branch used for a count that was not trained:
            ``'nearest'`` (nearest trained count, ties to the higher one) or
            ``'strict'`` (raise ValueError). Temporal modules always use
            the real count. Defaults to ``'nearest'``.
        weight_alteration (bool, optional): Whether to add the per-count
            adapters in front of the convs named by ``adapter_sites``.
            Defaults to None: True where the family has adapter sites
            (every family but TimeSformer's), else False.
        alteration_init_std (float): Std of the adapters' normal init.
            Defaults to 1e-3.
        rate_specific_norms (bool): Whether every count gets its own norms
            (specialised normalisation); False shares them (the paper's
            ablation "without specialised normalisation"). Defaults to
            True.
        **kwargs: Keyword arguments of the stock class.
    """
    adapter_sites: Sequence[Tuple[type, str]] = ()
    pretrained_kinds = 'a checkpoint of the same backbone or its FFN version'
    count_argument: Optional[str] = None
    keep_pretrained_from_stock = False

    def __init__(self,
                 *args,
                 num_segments_list: Sequence[int] = (4, 8, 16),
                 num_segments: Optional[int] = None,
                 branch_policy: str = 'nearest',
                 weight_alteration: Optional[bool] = None,
                 alteration_init_std: float = 1e-3,
                 rate_specific_norms: bool = True,
                 **kwargs) -> None:
        # The stock class: the first of the MRO that is not frame flexible
        # (X for X_FFN and for any subclass of X_FFN).
        self._stock_class = next(
            c for c in type(self).__mro__
            if not issubclass(c, FrameFlexibleMixin))
        num_segments = self._positional_count(args, num_segments)
        counts, default, weight_alteration = self._check_frame_arguments(
            num_segments_list, num_segments, branch_policy, weight_alteration,
            alteration_init_std, kwargs)
        pretrained = kwargs.get('pretrained')
        args, kwargs = self._stock_arguments(
            tuple(args), dict(kwargs), counts, default)
        # What the stock class got, for a stock twin (3D initialisation).
        self._stock_args, self._stock_kwargs = args, dict(kwargs)
        super().__init__(*args, **kwargs)
        if self.keep_pretrained_from_stock:
            self.pretrained = pretrained
        self._before_conversion(counts, default)
        self._make_frame_flexible(counts, default, branch_policy,
                                  weight_alteration, alteration_init_std,
                                  rate_specific_norms)

    # --- construction ------------------------------------------------------
    def _positional_count(self, args: tuple,
                          num_segments: Optional[int]) -> Optional[int]:
        """``num_segments``, or the stock positional ``count_argument``
        (``ResNetTSM(50, 8)``), which means the same count."""
        index = None if self.count_argument is None else positional_index(
            self._stock_class, self.count_argument)
        if index is None or index >= len(args):
            return num_segments
        if num_segments is not None:
            raise TypeError(
                f'{type(self).__name__} got the frame count twice: '
                f'{args[index]!r} as the positional {self.count_argument} '
                f'of {self._stock_class.__name__} and num_segments='
                f'{num_segments!r}; give one of them')
        return args[index]

    def _check_frame_arguments(self, num_segments_list, num_segments,
                               branch_policy, weight_alteration,
                               alteration_init_std,
                               kwargs) -> Tuple[Tuple[int, ...], int, bool]:
        """Validate the FFN arguments; return (counts, default count,
        weight_alteration)."""
        counts = check_frame_counts(num_segments_list, 'num_segments_list')
        if branch_policy not in BRANCH_POLICIES:
            raise ValueError(f'branch_policy must be one of {BRANCH_POLICIES}'
                             f', got {branch_policy!r}')
        if weight_alteration is None:
            weight_alteration = bool(self.adapter_sites)
        elif weight_alteration and not self.adapter_sites:
            raise ValueError(
                f'{type(self).__name__} takes weight_alteration=False only, '
                f'got {weight_alteration!r}: it has no adapter site')
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
        return counts, default, bool(weight_alteration)

    def _stock_arguments(self, args: tuple, kwargs: Dict[str, Any],
                         counts: Tuple[int, ...],
                         default: int) -> Tuple[tuple, Dict[str, Any]]:
        """Hook: the arguments the stock class is built with, from those
        the FFN class got (the FFN ones taken out). Families with facts
        about the counts check them here (raise ValueError) and call this.
        Default: ``count_argument`` set to the default count, ``pretrained``
        dropped where ``keep_pretrained_from_stock``."""
        if self.count_argument is not None:
            args, kwargs = with_stock_argument(self._stock_class, args, kwargs,
                                               self.count_argument, default)
        if self.keep_pretrained_from_stock:
            kwargs['pretrained'] = None
        return args, kwargs

    def _before_conversion(self, counts: Tuple[int, ...],
                           default: int) -> None:
        """Hook, run on the built stock structure before the conversion:
        make per count what the conversion cannot (weights whose shape
        depends on the count), so that frame-count switching finds it.
        Default: nothing."""

    def _stock_value(self, name: str, default: Any = None) -> Any:
        """The value of the stock argument ``name`` this backbone was built
        with (see :meth:`_stock_arguments`)."""
        return stock_argument(self._stock_class, self._stock_args,
                              self._stock_kwargs, name, default)

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
        # A trained count as a plain int, first: every test forward asks
        # twice (the switch and its context), and the check is a call.
        if type(num_frames) is int and num_frames in self.num_segments_list:
            return num_frames
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

    # (field, kind, modules) per (field, kind) of _frame_modules(); see
    # _frame_groups.
    _frame_group_cache: Optional[Tuple[tuple, ...]] = None

    def _frame_groups(self) -> Tuple[tuple, ...]:
        """:meth:`_frame_modules` grouped by (field, kind): every member of
        a group gets the same value, so a switch is one tight loop per
        group. Modules, not their ``__dict__`` objects, are kept: a deep
        copy of the backbone maps modules to their copies, not dicts."""
        if self._frame_group_cache is None:
            groups: Dict[tuple, list] = {}
            for module, field, kind in self._frame_modules():
                groups.setdefault((field, kind), []).append(module)
            self._frame_group_cache = tuple(
                (field, kind, tuple(modules))
                for (field, kind), modules in groups.items())
        return self._frame_group_cache

    def _set_frame_count(self, num_frames: int) -> list:
        """Apply ``num_frames`` everywhere; return what it replaced, for
        :func:`_restore` (entries ``(module, field, value)``; subclasses
        append theirs).

        Every test forward runs this and its undo. At batch 1 the modules'
        dicts are cold (the weights streamed through the caches in
        between), so each Python call and each pass over the modules costs
        microseconds: one pass per group, plain loops, no helper calls
        (``benchmarks/README.md``, "Python work per test forward").
        """
        values = dict(
            branch=self.branch_for(num_frames),
            frames=num_frames,
            pooled=num_frames // 2)
        state = self.__dict__
        previous: list = [(self, '_frame_count', state['_frame_count'])]
        groups = self._frame_group_cache or self._frame_groups()
        for field, kind, modules in groups:
            value = values[kind]
            saved = []
            # plain ints in __dict__: no nn.Module bookkeeping
            for module in modules:
                module_state = module.__dict__
                saved.append(module_state[field])
                module_state[field] = value
            previous.append((modules, field, saved))
        state['_frame_count'] = num_frames
        return previous

    def frame_count(self, num_frames: int) -> '_FrameCount':
        """Run the backbone on clips of ``num_frames`` frames::

            with backbone.frame_count(8) as branch:
                feats = backbone(imgs)

        Inside the context every rate-specific layer uses the branch
        ``branch_for(num_frames)`` (what ``as`` gives) and every temporal
        module uses ``num_frames`` itself. On exit the previous state comes
        back, so contexts nest. The switch writes a cached list of plain
        attributes (no module walk).

        Args:
            num_frames (int): Frames per clip of the next inputs.

        Returns:
            A context manager whose ``__enter__`` gives the branch (trained
            frame count) in use.
        """
        return _FrameCount(self, num_frames)

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` holds whole clips of the active
        count in the layout of the family (see
        :class:`FrameFlexible2DMixin`, :class:`FrameFlexible3DMixin`)."""
        raise NotImplementedError

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
