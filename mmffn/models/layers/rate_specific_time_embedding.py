"""One learnable time embedding per trained frame count (TimeSformer_FFN).

A transformer's time embedding ``(1, T, D)`` is shaped by the frame count,
so it cannot be shared: each trained count ``T`` keeps its own, and a count
that was not trained uses the nearest trained one resampled to its length.
"""
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn

from ...utils import check_frame_counts
from .rate_specific import RateSpecificLayer
from .rate_specific_module import resample_frames

__all__ = ['RateSpecificTimeEmbedding']


class RateSpecificTimeEmbedding(RateSpecificLayer, nn.Module):
    """One learnable time embedding ``(1, T, D)`` per trained count ``T``.

    Adds the active count's embedding, resampled to the input's length when
    that differs (a count that was not trained), to tokens shaped
    ``(N, T', D)``. The embeddings live in ``self.branches`` (keys
    ``branches.<T>``), in ascending count order.

    Args:
        embedding (torch.Tensor): The stock embedding ``(1, L, D)``; each
            count's copy starts as it, resampled to that count.
        frame_counts (Sequence[int]): Trained counts.
        active (int, optional): Count whose embedding is used. Defaults to
            the highest count.
    """
    _variants_name = 'branches'

    def __init__(self,
                 embedding: torch.Tensor,
                 frame_counts,
                 active: Optional[int] = None) -> None:
        super().__init__()
        counts = check_frame_counts(frame_counts)
        # An OrderedDict: ParameterDict sorts the keys of a plain dict as
        # strings ('16' < '4'), and frame_counts reads the key order.
        self.branches = nn.ParameterDict(
            OrderedDict(
                (str(count),
                 nn.Parameter(
                     resample_frames(embedding.detach(), count, dim=1).clone(),
                     requires_grad=embedding.requires_grad))
                for count in counts))
        self.active = counts[-1] if active is None else active

    def embedding(self, num_frames: int) -> torch.Tensor:
        """The active embedding resampled to ``num_frames`` positions."""
        return resample_frames(self.branches[str(self._active)], num_frames, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``(N, T', D)`` plus the embedding at ``T'`` frames."""
        return x + self.embedding(x.shape[1])

    def to_static(self, count: Optional[int] = None) -> nn.Parameter:
        """A copy of the embedding of ``count`` (default: the active one),
        the stock ``time_embed`` Parameter of a TimeSformer of that count."""
        weight = self.branches[str(self._active if count is None else count)]
        return nn.Parameter(weight.detach().clone(), weight.requires_grad)

    def extra_repr(self) -> str:
        return f'active={self._active}'
