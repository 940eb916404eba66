"""One private copy of a whole module per trained frame count.

For sub-networks whose weights' shapes depend on the frame count (TAM's
global module ``G`` starts with ``nn.Linear(T, alpha * T)``), sharing is not
possible: :class:`RateSpecificModule` keeps one copy per trained count and
runs the active one. With ``temporal_dim`` set, an input whose frame axis has
another length than the active count (a count that was not trained, served by
the nearest trained branch) is first resampled to that length by linear
interpolation (``align_corners=True``: first and last frames kept); at a
trained count nothing is resampled, so the layer is exactly its copy.
"""
import copy
from typing import Callable, Mapping, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...utils import check_frame_counts
from .rate_specific import RateSpecificLayer

__all__ = ['resample_frames', 'RateSpecificModule']


def resample_frames(x: torch.Tensor,
                    length: int,
                    dim: int = -1) -> torch.Tensor:
    """Linearly resample axis ``dim`` of ``x`` to ``length`` samples.

    ``align_corners=True``: output sample ``j`` reads input position
    ``j * (n - 1) / (length - 1)``, so the ends are kept. Returns ``x``
    itself when the axis already has ``length`` samples.

    Args:
        x (torch.Tensor): Any tensor with a frame axis ``dim``.
        length (int): Samples wanted along ``dim``.
        dim (int): The frame axis. Defaults to -1.

    Returns:
        torch.Tensor: ``x`` with ``x.shape[dim] == length``.
    """
    if x.shape[dim] == length:
        return x
    moved = x.movedim(dim, -1)
    shape = moved.shape
    out = F.interpolate(
        moved.reshape(-1, 1, shape[-1]),
        size=length,
        mode='linear',
        align_corners=True)
    return out.reshape(*shape[:-1], length).movedim(-1, dim)


class RateSpecificModule(RateSpecificLayer, nn.Module):
    """A module with a private copy per frame count.

    The copies live in ``self.branches`` (keyed by the count as a string),
    so state-dict keys read ``<name>.branches.<T>.<copy's own keys>``. Only
    the ``active`` copy runs; the others keep their parameters and buffers
    untouched. Copies may have different shapes (each is built for its
    count), so they are given or built by a factory, never converted.

    Args:
        branches (Mapping[int, nn.Module]): The copy of each trained count.
        active (int, optional): Count whose copy runs. Defaults to the
            highest count.
        temporal_dim (int, optional): The input's frame axis. When given, an
            input whose frame axis is not as long as the active count is
            resampled to it (see :func:`resample_frames`) before the copy
            runs. Defaults to None (inputs go in unchanged).
    """
    _variants_name = 'branches'

    def __init__(self,
                 branches: Mapping[int, nn.Module],
                 active: Optional[int] = None,
                 temporal_dim: Optional[int] = None) -> None:
        super().__init__()
        counts = check_frame_counts(tuple(branches))
        for count in counts:
            if not isinstance(branches[count], nn.Module):
                raise TypeError(f'the copy for {count} frames is not an '
                                f'nn.Module: {type(branches[count]).__name__}')
        self.branches = nn.ModuleDict(
            {str(count): branches[count]
             for count in counts})
        self.temporal_dim = temporal_dim
        self.active = counts[-1] if active is None else active

    @classmethod
    def from_factory(
        cls,
        factory: Callable[[int], nn.Module],
        frame_counts,
        active: Optional[int] = None,
        temporal_dim: Optional[int] = None,
        existing: Optional[Mapping[int, nn.Module]] = None
    ) -> 'RateSpecificModule':
        """Build the copy of every count with ``factory(count)``.

        Args:
            factory (Callable[[int], nn.Module]): Builds the copy of a count.
            frame_counts (Sequence[int]): Trained counts.
            active (int, optional): Count whose copy runs.
            temporal_dim (int, optional): See the class.
            existing (Mapping[int, nn.Module], optional): Copies to use as
                they are instead of calling the factory (e.g. the stock
                module of the count it was built for).
        """
        existing = dict(existing or {})
        counts = check_frame_counts(frame_counts)
        branches = {
            count: existing[count] if count in existing else factory(count)
            for count in counts
        }
        return cls(branches, active=active, temporal_dim=temporal_dim)

    def branch(self, count: Optional[int] = None) -> nn.Module:
        """The copy of ``count`` (default: the active one)."""
        count = self._active if count is None else count
        return self.branches[str(count)]

    def forward(self, x: torch.Tensor, *args, **kwargs):
        """Run the active copy (on ``x`` resampled to the active count when
        ``temporal_dim`` is set)."""
        if self.temporal_dim is not None:
            x = resample_frames(x, self._active, self.temporal_dim)
        return self.branches[str(self._active)](x, *args, **kwargs)

    def to_static(self, count: Optional[int] = None) -> nn.Module:
        """A copy of the module of ``count`` (default: the active one); it
        expects inputs of exactly ``count`` frames."""
        return copy.deepcopy(self.branch(count))

    def extra_repr(self) -> str:
        extra = f'active={self._active}'
        if self.temporal_dim is not None:
            extra += f', temporal_dim={self.temporal_dim}'
        return extra
