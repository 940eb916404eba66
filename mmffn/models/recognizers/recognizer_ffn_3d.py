"""RecognizerFFN3D: MMAction2's Recognizer3D trained on several frame
counts (SlowFast, SlowOnly, I3D, X3D, UniFormer)."""
from typing import List

import torch
from mmaction.models.recognizers import Recognizer3D
from mmaction.registry import MODELS
from mmaction.utils import SampleList

from .frame_flexible_recognizer import FrameFlexibleRecognizerMixin

__all__ = ['RecognizerFFN3D']


@MODELS.register_module()
class RecognizerFFN3D(FrameFlexibleRecognizerMixin, Recognizer3D):
    """Frame Flexible Network recognizer for 3D backbones.

    Training inputs hold one clip per trained count, concatenated along T,
    as ``MultiRateSampleFrames3D`` and ``FormatShape('NCTHW')`` make them:
    ``(N, 1, C, sum(L_T), H, W)`` with ``L_T = backbone.input_frames(T)``
    (``T`` itself, ``T * resample_rate`` for SlowFast). Each clip runs
    through the branch of its count; the loss is that of
    :class:`RecognizerFFN` (the head's loss on the highest count, the
    neck's auxiliary losses, the distillation term).

    Testing takes the stock 3D test pipelines at any clip length, with any
    number of views: the count is read from the clip itself,
    ``L / backbone.input_frames(1)``, and served by the backbone's branch
    policy (nearest trained branch, ties up; or strict).

    Args:
        distill_loss (dict): See :class:`FrameFlexibleRecognizerMixin`.
            Defaults to ``TemporalKLLoss``.
        **kwargs: Arguments of :class:`Recognizer3D`. The backbone must be
            a 3D frame-flexible one (``ResNet3dSlowFast_FFN``, ...).
    """

    stock_recognizer = 'Recognizer3D'

    def _clip_lengths(self, counts=None) -> tuple:
        return tuple(
            self.backbone.input_frames(c)
            for c in (self.frame_counts if counts is None else counts))

    def _test_clips_by_count(self, inputs: torch.Tensor, lengths: tuple):
        """``(N, views, C, sum(lengths), H, W)`` to one ``(N, views, C, L,
        H, W)`` clip per count."""
        if inputs.dim() != 6 or inputs.shape[3] != sum(lengths):
            raise ValueError(
                'RecognizerFFN3D cascade testing expects inputs of shape (N, '
                f'views, C, {sum(lengths)}, H, W) (clips of {lengths} '
                f'frames), got {tuple(inputs.shape)}')
        clips = [c.contiguous() for c in torch.split(inputs, lengths, dim=3)]
        return clips, inputs.shape[1]

    def _one_view(self, clip: torch.Tensor, count: int) -> torch.Tensor:
        return clip[0, :1].contiguous()

    def _clips_by_count(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        lengths = self._clip_lengths()
        if inputs.dim() != 6 or inputs.shape[3] != sum(lengths):
            raise ValueError(
                'RecognizerFFN3D expects training inputs of shape '
                f'(N, views, C, {sum(lengths)}, H, W): clips of {lengths} '
                f'frames for the counts {self.frame_counts}, got '
                f'{tuple(inputs.shape)}. Use MultiRateSampleFrames3D('
                f'clip_len_list={lengths}) and FormatShape("NCTHW").')
        return list(torch.split(inputs, lengths, dim=3))

    def _count_of_length(self, length: int) -> int:
        per_count = self.backbone.input_frames(1)
        if length % per_count:
            raise ValueError(
                f'A test clip of {length} frames is not a whole count: '
                f'{type(self.backbone).__name__} reads {per_count} input '
                'frames per counted frame (resample_rate)')
        return length // per_count

    def _test_frame_count(self, inputs: torch.Tensor,
                          data_samples: SampleList) -> int:
        """The clip's own length tells the count, whatever the data
        samples' meta keys."""
        if inputs.dim() != 6:
            raise ValueError(
                'RecognizerFFN3D expects test inputs of shape (N, views, C, '
                f'T, H, W), got {tuple(inputs.shape)}')
        return self._count_of_length(inputs.shape[3])

    def _forward(self, inputs, stage: str = 'backbone', **kwargs):
        """``mode='tensor'``: the count from the clip length."""
        return self._forward_at(inputs, self._count_of_length(inputs.shape[3]),
                                stage)
