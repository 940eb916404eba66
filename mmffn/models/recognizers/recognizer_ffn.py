"""RecognizerFFN: MMAction2's Recognizer2D trained on several frame counts."""
from contextlib import contextmanager
from typing import Dict, List

import torch
from mmaction.models.recognizers import Recognizer2D
from mmaction.registry import MODELS
from mmaction.utils import SampleList

from ...utils import check_frame_count
from ..backbones import FrameFlexibleMixin
from ..losses import TemporalDistillationLoss
from ..model_conversion import FAMILIES


@contextmanager
def _head_segments(head, num_segments: int):
    """Let a head that pools over a fixed ``num_segments`` (TSMHead) pool
    over this clip's frame count instead."""
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
        distill_loss (dict): Config of the distillation term, a loss called
            with the logits of every count (dict count -> logits) that
            returns a dict of losses. Defaults to ``TemporalKLLoss``.
        **kwargs: Arguments of :class:`Recognizer2D` (backbone, neck,
            cls_head, data_preprocessor, train_cfg, test_cfg, ...). The
            backbone must be frame flexible (``ResNetTSM_FFN`` and the other
            versions in ``model_conversion.FAMILIES``).
    """

    def __init__(self,
                 *args,
                 distill_loss: Dict = dict(type='TemporalKLLoss'),
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.backbone, FrameFlexibleMixin):
            supported = sorted(f.ffn_type for f in FAMILIES.values())
            raise TypeError(
                'RecognizerFFN needs a frame-flexible backbone, got '
                f'{type(self.backbone).__name__}; supported: {supported} '
                '(model_conversion.frame_flexible_model converts a stock '
                'config)')
        if not self.with_cls_head:
            raise ValueError('RecognizerFFN needs a cls_head: its loss is the '
                             'supervised term of the highest frame count.')
        self.distill_loss = MODELS.build(distill_loss)
        if isinstance(self.distill_loss, TemporalDistillationLoss):
            raise TypeError(
                'distill_loss=TemporalDistillationLoss adds its own '
                'cross-entropy, but RecognizerFFN takes the supervised term '
                'from cls_head; use dict(type="TemporalKLLoss", '
                'loss_weight=...) (the distillation term alone).')

    @property
    def frame_counts(self) -> tuple:
        return tuple(self.backbone.num_segments_list)

    # ------------------------------------------------------------------ train
    def loss(self, inputs: torch.Tensor, data_samples: SampleList,
             **kwargs) -> Dict:
        """Losses of one multi-rate batch.

        Args:
            inputs (torch.Tensor): ``(N, sum(counts), C, H, W)``.
            data_samples (list[ActionDataSample]): With ``gt_label`` (class
                indices or the soft labels of batch blending) and the
                sampler's ``frame_counts`` in their metainfo (a ValueError
                without them, or when they differ from the backbone's).

        Returns:
            dict: The head's losses and accuracies on the highest count
            (``loss_cls``, ``top1_acc``, ...), the neck's auxiliary losses
            (the highest count's under their own names, the others with a
            ``_<T>f`` suffix) and the distillation term (``loss_distill``).
        """
        counts = self.frame_counts
        self._check_training_layout(inputs, data_samples, counts)
        logits, losses = {}, {}
        for count, clip in zip(counts, torch.split(inputs, counts, dim=1)):
            with self.backbone.frame_count(count):
                feats, head_kwargs = self.extract_feat(
                    clip.contiguous(), data_samples=data_samples)
            suffix = '' if count == counts[-1] else f'_{count}f'
            for name, value in head_kwargs.pop('loss_aux', {}).items():
                losses[name + suffix] = value
            with _head_segments(self.cls_head, count):
                logits[count] = self.cls_head(feats, **head_kwargs)
        losses.update(
            self.cls_head.loss_by_feat(logits[counts[-1]], data_samples))
        losses.update(self.distill_loss(logits))
        return losses

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
        # The clip is split by the backbone's counts, which is right only if
        # the sampler drew those counts: other counts of the same total
        # (4/8/16 vs 4/6/18) would train every branch on wrong clips without
        # any error. So the sampler's counts must come with the samples.
        missing = sum('frame_counts' not in s.metainfo for s in data_samples)
        if missing:
            raise ValueError(
                f'{missing} of {len(data_samples)} training data samples '
                'carry no frame_counts, so RecognizerFFN cannot check that '
                f'their {inputs.shape[1]} frames hold clips of {counts} '
                'frames. Keep the sampler\'s counts: PackActionInputs('
                "meta_keys=(..., 'frame_counts')) after MultiRateSampleFrames"
                ' (mmffn.datasets.pipeline_conversion.multi_rate_pipeline '
                'does this).')
        for sample in data_samples:
            sampled = tuple(sample.metainfo['frame_counts'])
            if sampled != counts:
                raise ValueError(
                    f'Sampler frame counts {sampled} do not match the '
                    f'backbone num_segments_list {counts}.')

    # ------------------------------------------------------------------- test
    def predict(self, inputs: torch.Tensor, data_samples: SampleList,
                **kwargs) -> SampleList:
        """Predict with the branch for this clip's frame count.

        Args:
            inputs (torch.Tensor): ``(N, num_views * T, C, H, W)``.
            data_samples (list[ActionDataSample]): Data samples; their
                ``num_clips`` (times ``clip_len``) gives T. Labels are not
                needed.
        """
        count = self._test_frame_count(inputs, data_samples)
        with self.backbone.frame_count(count):
            # As Recognizer2D: no data samples, so a neck computes no
            # auxiliary loss (unlabelled data, any number of views).
            feats, predict_kwargs = self.extract_feat(inputs, test_mode=True)
        with _head_segments(self.cls_head, count):
            return self.cls_head.predict(feats, data_samples, **predict_kwargs)

    def _forward(self, inputs, stage: str = 'backbone', **kwargs):
        """``mode='tensor'``: one clip per sample, T = ``inputs.shape[1]``."""
        count = inputs.shape[1]
        # Stop before the head: Recognizer2D.extract_feat would run it with
        # the head's own num_segments instead of this clip's count.
        feat_stage = 'neck' if stage == 'head' else stage
        with self.backbone.frame_count(count):
            feats, predict_kwargs = self.extract_feat(inputs, stage=feat_stage)
        if stage != 'head':
            return feats
        with _head_segments(self.cls_head, count):
            return self.cls_head(feats, **predict_kwargs)

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
