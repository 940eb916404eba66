"""RecognizerFFN: MMAction2's Recognizer2D trained on several frame counts."""
import warnings
from contextlib import contextmanager
from typing import Dict, List

import torch
from mmaction.evaluation import top_k_accuracy
from mmaction.models.recognizers import Recognizer2D
from mmaction.registry import MODELS
from mmaction.utils import SampleList


@contextmanager
def _head_segments(head, num_segments: int):
    """Let a head that pools over a fixed ``num_segments`` (TSMHead, TSNHead
    with consensus) pool over this clip's frame count instead."""
    if not hasattr(head, 'num_segments'):
        yield
        return
    saved = head.num_segments
    head.num_segments = num_segments
    try:
        yield
    finally:
        head.num_segments = saved


@MODELS.register_module()
class RecognizerFFN(Recognizer2D):
    """Frame Flexible Network recognizer.

    Training inputs hold the clips of every trained frame count side by side
    along the frame axis, as produced by ``MultiRateSampleFrames``: shape
    ``(N, sum(counts), C, H, W)`` with counts ``backbone.num_segments_list``
    in increasing order. Each clip runs through the backbone branch of its
    count (``backbone.frame_count(T)``) and the shared head, and the
    temporal distillation loss ties them together.

    Testing takes any pipeline with plain ``SampleFrames(num_clips=T)``: T is
    read from the data sample (``num_clips``, kept by
    ``PackActionInputs(meta_keys=(..., 'num_clips'))``) and the backbone's
    branch policy picks the branch; the temporal shift uses the real T.

    Args:
        distill_loss (dict): Config of the loss that takes the logits of
            every count. Defaults to ``TemporalDistillationLoss``.
        **kwargs: Arguments of :class:`Recognizer2D` (backbone, cls_head,
            data_preprocessor, train_cfg, test_cfg, ...). The backbone must
            offer ``num_segments_list`` and ``frame_count(T)`` (see
            ``ResNetTSM_FFN``).
    """

    def __init__(self,
                 *args,
                 distill_loss: Dict = dict(type='TemporalDistillationLoss'),
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for attr in ('num_segments_list', 'frame_count'):
            if not hasattr(self.backbone, attr):
                raise TypeError(
                    f'RecognizerFFN needs a frame-flexible backbone with '
                    f'`{attr}` (e.g. ResNetTSM_FFN), got '
                    f'{type(self.backbone).__name__}.')
        self.distill_loss = MODELS.build(distill_loss)

    @property
    def frame_counts(self) -> tuple:
        return tuple(self.backbone.num_segments_list)

    # ------------------------------------------------------------------ train
    def loss(self, inputs: torch.Tensor, data_samples: SampleList,
             **kwargs) -> Dict:
        """Losses of one multi-rate batch.

        Args:
            inputs (torch.Tensor): ``(N, sum(counts), C, H, W)``.
            data_samples (list[ActionDataSample]): With ``gt_label``.

        Returns:
            dict: ``loss_cls`` (CE of the highest count), ``loss_distill``
            and the top-k accuracies of the highest count for the log.
        """
        counts = self.frame_counts
        self._check_training_layout(inputs, data_samples, counts)
        logits = {}
        for count, clip in zip(counts, torch.split(inputs, counts, dim=1)):
            logits[count] = self._forward_count(clip.contiguous(), count,
                                                data_samples)
        labels = self._stack_labels(data_samples, logits[counts[-1]])
        losses = self._accuracy(logits[counts[-1]], labels)
        losses.update(self.distill_loss(logits, labels))
        return losses

    def _forward_count(self, clip: torch.Tensor, count: int,
                       data_samples: SampleList) -> torch.Tensor:
        with self.backbone.frame_count(count):
            feats, kwargs = self.extract_feat(clip, data_samples=data_samples)
        with _head_segments(self.cls_head, count):
            return self.cls_head(feats, **kwargs)

    @staticmethod
    def _check_training_layout(inputs, data_samples, counts) -> None:
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
        for sample in data_samples:
            sampled = sample.metainfo.get('frame_counts')
            if sampled is not None and tuple(sampled) != counts:
                raise ValueError(
                    f'Sampler frame counts {tuple(sampled)} do not match the '
                    f'backbone num_segments_list {counts}.')

    @staticmethod
    def _stack_labels(data_samples: SampleList,
                      logits: torch.Tensor) -> torch.Tensor:
        labels = torch.stack([s.gt_label for s in data_samples])
        labels = labels.to(logits.device)
        # Class indices arrive as (N, 1); soft labels as (N, num_classes).
        if labels.dim() == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        return labels

    def _accuracy(self, logits: torch.Tensor, labels: torch.Tensor) -> Dict:
        if labels.dim() != 1:  # soft labels: no top-k accuracy
            return {}
        topk = getattr(self.cls_head, 'topk', (1, 5))
        topk = tuple(k for k in topk if k <= logits.shape[1])
        accs = top_k_accuracy(logits.detach().cpu().numpy(),
                              labels.detach().cpu().numpy(), topk)
        return {
            f'top{k}_acc': torch.tensor(a, device=logits.device)
            for k, a in zip(topk, accs)
        }

    # ------------------------------------------------------------------- test
    def predict(self, inputs: torch.Tensor, data_samples: SampleList,
                **kwargs) -> SampleList:
        """Predict with the branch for this clip's frame count.

        Args:
            inputs (torch.Tensor): ``(N, num_views * T, C, H, W)``.
            data_samples (list[ActionDataSample]): Data samples; their
                ``num_clips`` (times ``clip_len``) gives T.
        """
        count = self._test_frame_count(inputs, data_samples)
        with self.backbone.frame_count(count):
            feats, predict_kwargs = self.extract_feat(
                inputs, test_mode=True, data_samples=data_samples)
        with _head_segments(self.cls_head, count):
            return self.cls_head.predict(feats, data_samples,
                                         **predict_kwargs)

    def _forward(self, inputs, stage: str = 'backbone', **kwargs):
        """``mode='tensor'``: one clip per sample, T = ``inputs.shape[1]``."""
        count = inputs.shape[1]
        # Stop before the head: Recognizer2D.extract_feat would run it with
        # the head's own num_segments instead of this clip's count.
        feat_stage = 'neck' if stage == 'head' else stage
        with self.backbone.frame_count(count):
            feats, predict_kwargs = self.extract_feat(inputs,
                                                      stage=feat_stage)
        if stage != 'head':
            return feats
        with _head_segments(self.cls_head, count):
            return self.cls_head(feats, **predict_kwargs)

    _warned_missing_num_clips = False

    def _test_frame_count(self, inputs: torch.Tensor,
                          data_samples: SampleList) -> int:
        frames = inputs.shape[1]
        counts = set()
        for sample in data_samples:
            num_clips = sample.metainfo.get('num_clips')
            if num_clips is not None:
                counts.add(int(num_clips) *
                           int(sample.metainfo.get('clip_len', 1) or 1))
        if not counts:
            if not RecognizerFFN._warned_missing_num_clips:
                warnings.warn(
                    'Data samples carry no `num_clips`: taking all '
                    f'{frames} frames of a sample as one clip. For '
                    'multi-view testing add "num_clips" to '
                    'PackActionInputs(meta_keys=...).')
                RecognizerFFN._warned_missing_num_clips = True
            return frames
        if len(counts) != 1:
            raise ValueError(
                f'One test batch mixes frame counts {sorted(counts)}; test '
                'one frame count at a time.')
        count = counts.pop()
        if frames % count:
            raise ValueError(
                f'Test input has {frames} frames per sample, not a multiple '
                f'of the clip frame count {count} (num_clips x clip_len).')
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
            return super().extract_feat(inputs, stage, data_samples,
                                        test_mode)
        if self.with_neck:
            raise NotImplementedError(
                'max_testing_views with a neck is not supported by '
                'RecognizerFFN.')
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
        return feats, dict(num_segs=inputs.shape[1], fcn_test=False,
                           loss_aux=dict())


__all__: List[str] = ['RecognizerFFN']
