"""FrameFlexible3DMixin: FrameFlexibleMixin for backbones fed 3D clips.

A 3D backbone reads ``(N, C, L, H, W)``: the frames of a clip are an axis of
the input, not a multiple of the batch. ``L`` is ``input_frames(T)`` for the
frame count ``T`` of the branch; ``T`` itself for a single pathway, the slow
pathway's count times ``resample_rate`` for SlowFast. Everything else
(per-count norms, adapters, branch selection, ``frame_count``) is the
generic mixin's.

3D backbones initialise themselves in ways the conversion breaks (ResNet3d
zero-initialises the last norm of each block through its attribute, which
a per-count norm does not have; SlowFast pathways inflate 2D checkpoints
through module names), so this mixin runs the stock initialisation on a
stock copy built with the same arguments and copies every weight into every
per-count copy: the FFN backbone starts exactly where the stock one does.
"""
from typing import Optional

import torch

from .checkpoint_conversion import convert_pretrained_state_dict
from .frame_flexible import FrameFlexibleMixin
from .stock_arguments import with_stock_argument

__all__ = ['FrameFlexible3DMixin']


class FrameFlexible3DMixin(FrameFlexibleMixin):
    """Frame-count switching for a stock MMAction2 3D backbone.

    A family is ``class X_FFN(FrameFlexible3DMixin, X)`` with its
    ``adapter_sites`` (and ``input_frames`` where the clip is longer than
    the count); the FFN arguments are those of :class:`FrameFlexibleMixin`.
    The stock class holds no frame count (``count_argument`` is None): it
    reads the count from the input's shape.
    """

    def input_frames(self, count: Optional[int] = None) -> int:
        """Frames of the input clip at ``count`` (default: the active
        count); families with a temporal resampling at the input override
        it."""
        return self._frame_count if count is None else count

    def _check_input(self, x: torch.Tensor) -> None:
        """Raise ValueError unless ``x`` is ``(N, C, L, H, W)`` with ``L``
        the input length of the active count."""
        expected = self.input_frames()
        if x.dim() != 5 or x.shape[2] != expected:
            raise ValueError(
                f'{type(self).__name__} expects clips shaped (N, C, '
                f'{expected}, H, W) at {self._frame_count} frames, got '
                f'{tuple(x.shape)}; set the count with '
                '`with backbone.frame_count(T):`')

    # --- initialisation ----------------------------------------------------
    def _init_from_stock(self, pretrained: Optional[str]) -> None:
        """Initialise a stock twin (with ``pretrained``) by its own
        ``init_weights`` and copy its weights into every branch."""
        args, kwargs = with_stock_argument(self._stock_class, self._stock_args,
                                           self._stock_kwargs, 'pretrained',
                                           pretrained)
        stock = self._stock_class(*args, **kwargs)
        stock.init_weights()
        result = convert_pretrained_state_dict(
            stock.state_dict(),
            self.state_dict(),
            resize=self._resize_pretrained)
        if result.missing or result.mismatched or result.unexpected:
            raise RuntimeError(
                f'the stock {self._stock_class.__name__} does not map onto '
                f'{type(self).__name__}: missing {result.missing[:3]}, '
                f'mismatched {result.mismatched[:3]}, unexpected '
                f'{result.unexpected[:3]}')
        self.load_state_dict(result.state_dict, strict=False)

    def _init_from_scratch(self) -> None:
        self._init_from_stock(None)

    def init_weights(self) -> None:
        """Initialise as the stock backbone does, adapters near zero.

        ``pretrained`` with ``pretrained2d=True`` (a 2D checkpoint) is
        inflated by the stock twin; any other ``pretrained`` (a checkpoint
        of the stock 3D backbone or of its FFN version) is loaded into
        every branch by :meth:`load_pretrained`.
        """
        pretrained = getattr(self, 'pretrained', None)
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError('pretrained must be a str or None, got '
                            f'{type(pretrained).__name__}')
        inflate = bool(pretrained) and getattr(self, 'pretrained2d', False)
        self._init_from_stock(pretrained if inflate else None)
        self.reset_weight_alteration()
        if pretrained and not inflate:
            self.load_pretrained(pretrained)
