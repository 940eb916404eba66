"""What every frame-count-aware layer shares: one variant per trained count.

A rate-specific layer holds its variants in an ``nn.ModuleDict`` keyed by the
count as a string, runs the ``active`` one, and can turn itself into the
plain single-count module that computes the same function (MMRazor's
``to_static_op`` idea). Backbones switch counts and deployment folds models
through this interface only, so a new kind of layer needs no change there.
"""
import copy
from typing import Optional, Tuple

import torch.nn as nn

__all__ = ['RateSpecificLayer', 'to_static']


class RateSpecificLayer:
    """Mixin for an ``nn.Module`` with one variant per frame count.

    Subclasses name their ``nn.ModuleDict`` of variants in
    ``_variants_name`` and implement :meth:`to_static`.
    """
    _variants_name: str = ''

    def _variants(self) -> nn.ModuleDict:
        return getattr(self, self._variants_name)

    @property
    def frame_counts(self) -> Tuple[int, ...]:
        """tuple[int]: The counts that have a variant."""
        return tuple(int(key) for key in self._variants().keys())

    @property
    def active(self) -> int:
        """int: The count whose variant runs in ``forward``."""
        return self._active

    @active.setter
    def active(self, count: int) -> None:
        if str(count) not in self._variants():
            raise KeyError(f'{type(self).__name__} has no variant for {count} '
                           f'frames; trained counts: {self.frame_counts}')
        self._active = int(count)

    def to_static(self, count: Optional[int] = None) -> nn.Module:
        """A plain module computing this layer at ``count`` (default: the
        active count), with no FFN dependency."""
        raise NotImplementedError


def to_static(module: nn.Module, count: int) -> nn.Module:
    """A copy of ``module`` with every rate-specific layer made static.

    Args:
        module (nn.Module): A model or part of one; left unchanged.
        count (int): The trained count whose variants are kept.

    Returns:
        nn.Module: The copy, made only of plain modules where FFN's layers
        were.
    """
    if isinstance(module, RateSpecificLayer):
        return module.to_static(count)
    static = copy.deepcopy(module)
    _replace_in_place(static, count)
    return static


def _replace_in_place(module: nn.Module, count: int) -> None:
    # A list: a layer may become a Parameter (TimeSformer_FFN's time
    # embedding), which leaves the module's children while we iterate.
    for name, child in list(module.named_children()):
        if isinstance(child, RateSpecificLayer):
            setattr(module, name, child.to_static(count))
        else:
            _replace_in_place(child, count)
