"""RecognizerFFN: MMAction2's Recognizer2D trained on several frame counts."""
from typing import List

import torch
from mmaction.models.recognizers import Recognizer2D
from mmaction.registry import MODELS
from mmaction.utils import SampleList

from ...utils import check_frame_count
from .frame_flexible_recognizer import FrameFlexibleRecognizerMixin


@MODELS.register_module()
class RecognizerFFN(FrameFlexibleRecognizerMixin, Recognizer2D):
    """Frame Flexible Network recognizer for 2D backbones (TSM, TANet...).

    Training inputs hold the clips of every trained frame count side by side
    along the frame axis, as produced by ``MultiRateSampleFrames``: shape
    ``(N, sum(counts), C, H, W)`` with counts ``backbone.num_segments_list``
    in increasing order. Each clip runs through the backbone branch of its
    count (``backbone.frame_count(T)``), the neck and the shared head. The
    loss is what the configured head computes on the highest count (its
    ``loss_cls``, ``label_smooth_eps``, soft labels of batch blending, top-k
    accuracies), plus the neck's auxiliary losses of each count, plus the
    distillation term of ``distill_loss`` over all counts.

    Testing takes any pipeline with plain ``SampleFrames(num_clips=T)``: T is
    read from the data sample (``num_clips`` times ``clip_len``, kept by
    ``PackActionInputs(meta_keys=(..., 'num_clips'))``); without it, T is
    the backbone's ``num_segments``, as for ``Recognizer2D``. The backbone's
    branch policy picks the branch; the temporal modules use the real T.

    Args:
        distill_loss (dict): See :class:`FrameFlexibleRecognizerMixin`.
            Defaults to ``TemporalKLLoss``.
        **kwargs: Arguments of :class:`Recognizer2D` (backbone, neck,
            cls_head, data_preprocessor, train_cfg, test_cfg, ...). The
            backbone must be frame flexible (``ResNetTSM_FFN`` and the other
            2D versions in ``mmffn.models.families.FAMILIES``).
    """

    def _clips_by_count(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        counts = self.frame_counts
        if inputs.dim() != 5:
            raise ValueError(
                'RecognizerFFN expects training inputs of shape '
                f'(N, sum(counts)={sum(counts)}, C, H, W), got '
                f'{tuple(inputs.shape)}; use format_shape="NCHW".')
        if inputs.shape[1] != sum(counts):
            raise ValueError(
                f'Training clip has {inputs.shape[1]} frames but the backbone '
                f'trains counts {counts} (sum {sum(counts)}). Use '
                f'MultiRateSampleFrames(num_clips_list={counts}) with '
                'clip_len=1 and no multi-crop in the training pipeline.')
        return list(torch.split(inputs, counts, dim=1))

    def _clip_lengths(self, counts=None) -> tuple:
        return tuple(self.frame_counts if counts is None else counts)

    def _test_clips_by_count(self, inputs: torch.Tensor, lengths: tuple):
        """``(N, views * sum(lengths), C, H, W)``, each view holding every
        count's clip, to one ``(N, views * T, C, H, W)`` tensor per count
        (views after views, as a stock multi-view test clip)."""
        total = sum(lengths)
        if inputs.dim() != 5 or inputs.shape[1] % total:
            raise ValueError(
                'RecognizerFFN cascade testing expects inputs of shape (N, '
                f'views * {total}, C, H, W) (views of clips of {lengths} '
                f'frames), got {tuple(inputs.shape)}')
        num, views = inputs.shape[0], inputs.shape[1] // total
        grouped = inputs.reshape((num, views, total) + inputs.shape[2:])
        clips = [
            clip.reshape((num, views * length) + inputs.shape[2:])
            for clip, length in zip(
                torch.split(grouped, lengths, dim=2), lengths)
        ]
        return clips, views

    def _one_view(self, clip: torch.Tensor, count: int) -> torch.Tensor:
        return clip[0, :count].contiguous()

    # ------------------------------------------------------------------- test
    def _forward(self, inputs, stage: str = 'backbone', **kwargs):
        """``mode='tensor'``: one clip per sample, T = ``inputs.shape[1]``."""
        return self._forward_at(inputs, inputs.shape[1], stage)

    def _test_frame_count(self, inputs: torch.Tensor,
                          data_samples: SampleList) -> int:
        """Frames per clip of a test batch: ``num_clips * clip_len`` of the
        data samples, else the backbone's ``num_segments``."""
        frames = inputs.shape[1]
        counts = set()
        for sample in data_samples:
            num_clips = sample.metainfo.get('num_clips')
            if num_clips is not None:
                # Checked here, where T is read: 0 would otherwise fail as
                # `integer modulo by zero` below.
                clip_len = sample.metainfo.get('clip_len')
                counts.add(
                    check_frame_count(num_clips, 'num_clips of a test data '
                                      'sample') *
                    (1 if clip_len is None else check_frame_count(
                        clip_len, 'clip_len of a test data sample')))
        if len(counts) > 1:
            raise ValueError(
                f'One test batch mixes frame counts {sorted(counts)}; test '
                'one frame count at a time.')
        if counts:
            count = counts.pop()
            source = 'the clip frame count (num_clips x clip_len)'
        else:
            count = self.backbone.active_frame_count
            source = ("the backbone's num_segments (the data samples carry "
                      'no num_clips; to test another T add "num_clips" to '
                      'PackActionInputs(meta_keys=...))')
        if frames % count:
            raise ValueError(
                f'Test input has {frames} frames per sample, not a multiple '
                f'of {source}: {count}.')
        return count

    def extract_feat(self,
                     inputs: torch.Tensor,
                     stage: str = 'neck',
                     data_samples: SampleList = None,
                     test_mode: bool = False) -> tuple:
        """Recognizer2D's feature extraction, plus a working
        ``test_cfg.max_testing_views`` (upstream 1.2.0 calls
        ``self.backbone.get('num_segments')``, which no nn.Module has)."""
        max_views = (self.test_cfg or {}).get('max_testing_views')
        if not (test_mode and max_views):
            return super().extract_feat(inputs, stage, data_samples, test_mode)
        if self.with_neck or self.test_cfg.get('fcn_test', False):
            raise NotImplementedError(
                'test_cfg.max_testing_views together with a neck or fcn_test '
                'is not supported by RecognizerFFN; remove one of them.')
        count = self.backbone.active_frame_count
        if max_views % count:
            raise ValueError(
                f'test_cfg.max_testing_views={max_views} must be a multiple '
                f'of the clip frame count {count}.')
        frames = inputs.reshape((-1, ) + inputs.shape[2:])
        feats = torch.cat([
            self.backbone(frames[start:start + max_views])
            for start in range(0, frames.shape[0], max_views)
        ])
        return feats, dict(
            num_segs=inputs.shape[1], fcn_test=False, loss_aux=dict())


__all__: List[str] = ['RecognizerFFN']
