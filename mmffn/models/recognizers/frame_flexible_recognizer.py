"""What the 2D and the 3D FFN recognizers share: one training step over all
frame counts, and testing with the branch of the clip's count.

The layouts differ only in where a clip's frames are (the frame axis of
``(N, frames, C, H, W)`` in 2D, the T axis of ``(N, views, C, T, H, W)`` in
3D) and in how a test clip tells its count; :class:`RecognizerFFN` and
:class:`RecognizerFFN3D` state those in three small methods.
"""
import logging
from contextlib import contextmanager, nullcontext
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmaction.registry import MODELS
from mmaction.utils import SampleList
from mmengine.logging import print_log

from ..backbones import FrameFlexible3DMixin, FrameFlexibleMixin
from ..families import FAMILIES
from ..losses import TemporalDistillationLoss
from ..stock_checkpoint import load_stock_checkpoint
from .cascade import (CascadeSettings, backbone_gflops, cascade_settings,
                      check_average_clips, confidence)
from .count_support import check_counts_fit, check_neck_counts_fit
from .trainable_parts import check_trainable, freeze_all_but, freezes_teacher

__all__ = ['FrameFlexibleRecognizerMixin']

SUPERVISION = ('highest', 'every', 'none')


class _head_segments:
    """Let a head that pools over a fixed ``num_segments`` (TSMHead) pool
    over this clip's frame count instead (a class: cheaper per test forward
    than a generator-based context manager)."""
    __slots__ = ('head', 'num_segments', 'saved')

    def __init__(self, head, num_segments: int) -> None:
        self.head, self.num_segments = head, num_segments

    def __enter__(self) -> None:
        # A plain attribute (TSMHead's) is written in place: nn.Module's
        # __setattr__ is a Python call per test forward.
        state = self.head.__dict__
        if 'num_segments' in state:
            self.saved = (state, state['num_segments'])
            state['num_segments'] = self.num_segments
        elif hasattr(self.head, 'num_segments'):
            self.saved = (None, self.head.num_segments)
            self.head.num_segments = self.num_segments
        else:
            self.saved = ()

    def __exit__(self, *exc_info) -> bool:
        if self.saved:
            state, value = self.saved
            if state is None:
                self.head.num_segments = value
            else:
                state['num_segments'] = value
        return False


def _loss_suffix(count: int, counts: Tuple[int, ...]) -> str:
    """How a count's losses are named: ``loss_cls`` for the highest count,
    ``loss_cls_8f`` for 8 frames below it."""
    return '' if count == counts[-1] else f'_{count}f'


class FrameFlexibleRecognizerMixin:
    """Multi-count training and any-count testing on top of a stock
    MMAction2 recognizer (``class R(FrameFlexibleRecognizerMixin,
    Recognizer2D)``).

    Subclasses name their ``stock_recognizer`` (the backbones of its
    families fit) and implement :meth:`_clips_by_count` (the training clip
    of each count), :meth:`_clip_lengths` (what the sampler's
    ``clip_lens`` must be) and :meth:`_test_frame_count`.

    Args:
        distill_loss (dict, optional): Config of the distillation term, a
            loss called with the logits of every count (dict count ->
            logits) that returns a dict of losses. Defaults to
            ``TemporalKLLoss``; None for none (only with
            ``supervision='every'``).
        supervision (str): Which counts the head's own loss (its
            ``loss_cls`` and settings) is computed on: ``'highest'`` (FFN),
            ``'every'`` (every count, the "without distillation" ablation)
            or ``'none'`` (label-free: no label is read, the distillation
            term is the whole loss). Defaults to ``'highest'``.
        trainable (Sequence[str], optional): The parts that train (see
            ``trainable_parts.PARTS``: ``'norms'``, ``'adapters'``,
            ``'teacher'``, ``'shared'``); the others keep their values.
            Without ``'teacher'`` and ``'shared'`` the highest count is
            frozen: it runs in eval mode without gradients, so it stays the
            model it was loaded as. An empty tuple trains nothing: each
            step only re-estimates the lower counts' norm statistics.
            Defaults to None (everything trains).
        stock_checkpoint (str, optional): A checkpoint of the stock model
            this model converts (``init_weights`` loads it into every count:
            norms copied, adapters zero; see ``stock_checkpoint.py``), e.g.
            to make an existing model frame flexible without labels.
            Defaults to None.
        **kwargs: Arguments of the stock recognizer (backbone, neck,
            cls_head, data_preprocessor, train_cfg, test_cfg, ...). The
            backbone must be frame flexible (one of the versions in
            ``mmffn.models.families.FAMILIES``).
    """

    stock_recognizer = 'Recognizer2D'

    def __init__(self,
                 *args,
                 distill_loss: Optional[Dict] = dict(type='TemporalKLLoss'),
                 supervision: str = 'highest',
                 trainable: Optional[Sequence[str]] = None,
                 stock_checkpoint: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        name = type(self).__name__
        is_3d = isinstance(self.backbone, FrameFlexible3DMixin)
        if not isinstance(self.backbone, FrameFlexibleMixin) or is_3d != (
                self.stock_recognizer == 'Recognizer3D'):
            supported = sorted(f.ffn_type for f in FAMILIES.values()
                               if f.recognizer == self.stock_recognizer)
            raise TypeError(
                f'{name} needs a frame-flexible backbone, got '
                f'{type(self.backbone).__name__}; supported: {supported} '
                '(mmffn.apis.frame_flexible_model converts a stock '
                'config)')
        check_counts_fit(self.backbone, self.frame_counts, name)
        if self.stock_recognizer == 'Recognizer2D':
            check_neck_counts_fit(
                getattr(self, 'neck', None), self.frame_counts, name)
        # A bad cascade setting fails when the model is built, not at the
        # first test batch.
        cascade_settings((self.test_cfg or {}).get('cascade'),
                         self.frame_counts, name)
        if not self.with_cls_head:
            raise ValueError(f'{name} needs a cls_head: its loss is the '
                             'supervised term of the highest frame count.')
        self.distill_loss = None if distill_loss is None else MODELS.build(
            distill_loss)
        if isinstance(self.distill_loss, TemporalDistillationLoss):
            raise TypeError(
                'distill_loss=TemporalDistillationLoss adds its own '
                f'cross-entropy, but {name} takes the supervised term '
                'from cls_head; use dict(type="TemporalKLLoss", '
                'loss_weight=...) (the distillation term alone).')
        self._check_training_options(supervision, trainable)
        self.supervision = supervision
        self.trainable = check_trainable(trainable)
        self.stock_checkpoint = stock_checkpoint
        if self.trainable is not None:
            freeze_all_but(self, self.trainable, self.frame_counts[-1])
            self._check_something_trains_in_ddp(name)

    def _check_something_trains_in_ddp(self, name: str) -> None:
        """torch's DistributedDataParallel refuses a model without a
        trainable parameter ("DDP is not needed ...") naming no option."""
        from mmengine import dist
        processes = dist.get_world_size()
        if processes > 1 and not any(p.requires_grad
                                     for p in self.parameters()):
            raise ValueError(
                f'{name}: trainable={self.trainable} leaves no parameter to '
                f'train, which DistributedDataParallel refuses on {processes}'
                ' processes. Run on one process (tools/train.py), or name '
                "parts that train, e.g. trainable=('norms', 'adapters').")

    def _check_training_options(self, supervision, trainable) -> None:
        if supervision not in SUPERVISION:
            raise ValueError(f'supervision must be one of {SUPERVISION}, got '
                             f'{supervision!r}')
        if self.distill_loss is None and supervision != 'every':
            raise ValueError(
                f'distill_loss=None leaves the counts below the highest '
                f'without a loss under supervision={supervision!r}; give a '
                "distill_loss or use supervision='every'.")
        parts = check_trainable(trainable)
        if freezes_teacher(parts) and supervision == 'highest':
            raise ValueError(
                f'trainable={parts} freezes the highest count, so the '
                "head's loss on it (supervision='highest') trains nothing; "
                "use supervision='none' (label-free) or 'every', or add "
                "'teacher'/'shared' to trainable.")

    @property
    def teacher_frozen(self) -> bool:
        """bool: The highest count keeps its loaded function: none of its
        parameters trains and it runs in eval mode."""
        return freezes_teacher(self.trainable)

    def init_weights(self) -> None:
        """The stock initialisation, then ``stock_checkpoint`` if given."""
        super().init_weights()
        if self.stock_checkpoint:
            load_stock_checkpoint(self, self.stock_checkpoint,
                                  self.frame_counts[-1])

    @contextmanager
    def _frozen_teacher(self):
        """Run the teacher as a loaded model: eval mode (running norm
        statistics, no dropout) and no gradients."""
        was_training = self.training
        self.train(False)
        try:
            with torch.no_grad():
                yield
        finally:
            self.train(was_training)

    @property
    def frame_counts(self) -> tuple:
        return tuple(self.backbone.num_segments_list)

    # --- layout (subclasses) -----------------------------------------------
    def _clips_by_count(self, inputs: torch.Tensor) -> List[torch.Tensor]:
        """The training clip of each count, in increasing count order."""
        raise NotImplementedError

    def _clip_lengths(self, counts: Optional[Sequence[int]] = None) -> tuple:
        """The ``clip_lens`` the sampler must have drawn: the input frames
        of each count's clip (of ``counts``, default the trained ones)."""
        raise NotImplementedError

    def _test_clips_by_count(self, inputs: torch.Tensor,
                             lengths: tuple) -> Tuple[List[torch.Tensor], int]:
        """The clips of a multi-rate test batch, one tensor per count in
        the stock test layout, and the views per video."""
        raise NotImplementedError

    def _one_view(self, clip: torch.Tensor, count: int) -> torch.Tensor:
        """One view of one video of a count's test clip, as the backbone
        takes it (for counting FLOPs)."""
        raise NotImplementedError

    def _test_frame_count(self, inputs: torch.Tensor,
                          data_samples: SampleList) -> int:
        """The frame count of a test batch."""
        raise NotImplementedError

    # --- train -------------------------------------------------------------
    def loss(self, inputs: torch.Tensor, data_samples: SampleList,
             **kwargs) -> Dict:
        """Losses of one multi-rate batch.

        Args:
            inputs (torch.Tensor): The clips of every count side by side
                along the frame axis (see the subclass).
            data_samples (list[ActionDataSample]): With ``gt_label`` (class
                indices or the soft labels of batch blending; not read with
                ``supervision='none'``) and the
                sampler's ``clip_lens`` in their metainfo (a ValueError
                without them, or when they differ from the backbone's).

        Returns:
            dict: The head's losses and accuracies on the counts
            ``supervision`` names (``loss_cls``, ``top1_acc``, ... of the
            highest count; the others' with a ``_<T>f`` suffix), the neck's
            auxiliary losses (named the same way; none without labels) and
            the distillation term (``loss_distill``).
        """
        counts = self.frame_counts
        clips = self._clips_by_count(inputs)
        self._check_sampled_counts(inputs, data_samples)
        logits, losses = {}, {}
        for count, clip in zip(counts, clips):
            frozen = self.teacher_frozen and count == counts[-1]
            with self._frozen_teacher() if frozen else nullcontext():
                with self.backbone.frame_count(count):
                    # Without labels (or for the frozen teacher) the samples
                    # stay away from the neck, which then computes no
                    # auxiliary loss, as at test time.
                    feats, head_kwargs = self.extract_feat(
                        clip.contiguous(),
                        data_samples=None if frozen
                        or self.supervision == 'none' else data_samples)
                with _head_segments(self.cls_head, count):
                    aux = head_kwargs.pop('loss_aux', {})
                    logits[count] = self.cls_head(feats, **head_kwargs)
            if not frozen:
                suffix = _loss_suffix(count, counts)
                losses.update({name + suffix: v for name, v in aux.items()})
            if self.supervision == 'every':
                losses.update(self._head_losses(logits, count, data_samples))
        if self.supervision == 'highest':
            # After the loop, not in it: the head's accuracies leave the
            # graph under torch.compile (numpy), and a graph break inside a
            # loop makes it run the whole loss eagerly, compiling each pass
            # apart with a dynamic frame axis. Same keys in the same order.
            # (Assigned first: the graph resumes with no dict method on its
            # stack, which would recompile it every step.)
            head_losses = self._head_losses(logits, counts[-1], data_samples)
            losses.update(head_losses)
        if self.distill_loss is not None:
            losses.update(self.distill_loss(logits))
        return losses

    def _head_losses(self, logits: Dict[int, torch.Tensor], count: int,
                     data_samples: SampleList) -> Dict[str, torch.Tensor]:
        """The head's own losses and accuracies on ``count``'s logits,
        named with the count's suffix."""
        suffix = _loss_suffix(count, self.frame_counts)
        return {
            name + suffix: value
            for name, value in self.cls_head.loss_by_feat(
                logits[count], data_samples).items()
        }

    def train_step(self, data, optim_wrapper) -> Dict[str, torch.Tensor]:
        """MMEngine's training step; with nothing trainable
        (``trainable=()``) a forward pass that re-estimates the lower
        counts' norm statistics, with no optimizer step."""
        if any(p.requires_grad for p in self.parameters()):
            return super().train_step(data, optim_wrapper)
        with torch.no_grad():
            data = self.data_preprocessor(data, True)
            losses = self._run_forward(data, mode='loss')
        return self.parse_losses(losses)[1]

    def _check_sampled_counts(self, inputs: torch.Tensor,
                              data_samples: SampleList) -> None:
        # The clip is split by the backbone's counts, which is right only if
        # the sampler drew those counts: other counts of the same total
        # (4/8/16 vs 4/6/18) would train every branch on wrong clips without
        # any error. So the sampler's counts must come with the samples.
        expected = self._clip_lengths()
        missing = sum('clip_lens' not in s.metainfo for s in data_samples)
        if missing:
            raise ValueError(
                f'{missing} of {len(data_samples)} training data samples '
                f'carry no clip_lens, so {type(self).__name__} cannot '
                f'check that their {sum(expected)} frames hold clips of '
                f'{expected} frames. Keep the sampler\'s counts: '
                "PackActionInputs(meta_keys=(..., 'clip_lens')) after the "
                'multi-rate sampler (mmffn.apis.'
                'multi_rate_pipeline does this).')
        for sample in data_samples:
            sampled = tuple(sample.metainfo['clip_lens'])
            if sampled != expected:
                raise ValueError(
                    f'Sampler clip_lens {sampled} do not match the '
                    f'backbone num_segments_list {self.frame_counts}' +
                    ('' if expected ==
                     self.frame_counts else f' (clips of {expected} frames)') +
                    '.')

    # --- test --------------------------------------------------------------
    def predict(self, inputs: torch.Tensor, data_samples: SampleList,
                **kwargs) -> SampleList:
        """Predict with the branch for this clip's frame count (labels are
        not needed); with ``test_cfg.cascade``, per video from the lowest
        count up (:mod:`.cascade`)."""
        name = type(self).__name__
        settings = cascade_settings((self.test_cfg or {}).get('cascade'),
                                    self.frame_counts, name)
        # One clip length is an ordinary clip (a one-count sampler).
        multi_rate = [
            s for s in data_samples if len(s.metainfo.get('clip_lens', ())) > 1
        ]
        if settings is not None and multi_rate:
            return self._predict_cascade(inputs, data_samples, settings)
        if settings is not None and not self.__dict__.get('_said_one_count'):
            # Validation during training runs one count: that stays allowed.
            self._said_one_count = True
            print_log(
                f'{name}: test_cfg.cascade is set but these test clips hold '
                'one count; they are predicted at their '
                'count. Cascade testing needs mmffn.apis.cascade_loader.',
                logger='current',
                level=logging.WARNING)
        if multi_rate:
            raise ValueError(
                f'{name}: the test clips hold one clip per count (clip_lens '
                f"{tuple(multi_rate[0].metainfo['clip_lens'])}, a multi-rate "
                'sampler), which only cascade testing reads; set '
                'test_cfg.cascade (mmffn.apis.cascade_model), or test one '
                'count with mmffn.apis.fixed_frames_loader')
        count = self._test_frame_count(inputs, data_samples)
        with self.backbone.frame_count(count):
            # As the stock recognizers: no data samples, so a neck computes
            # no auxiliary loss (unlabelled data, any number of views).
            feats, predict_kwargs = self.extract_feat(inputs, test_mode=True)
        with _head_segments(self.cls_head, count):
            return self.cls_head.predict(feats, data_samples, **predict_kwargs)

    def _predict_cascade(self, inputs: torch.Tensor, data_samples: SampleList,
                         settings: CascadeSettings) -> SampleList:
        """Each video from the lowest count up, until its top class
        probability reaches the count's threshold (all counts with
        ``thresholds=None``)."""
        name = type(self).__name__
        counts, thresholds = settings
        lengths = self._clip_lengths(counts)
        for sample in data_samples:
            sampled = tuple(sample.metainfo.get('clip_lens', ()))
            if sampled != lengths:
                raise ValueError(
                    f'{name}: test_cfg.cascade runs counts {counts}, so each '
                    f'test sample must hold clips of {lengths} frames '
                    '(mmffn.apis.cascade_loader with the same counts), got '
                    f'clip_lens={sampled or None}')
        average = getattr(self.cls_head, 'average_clips', None)
        check_average_clips(average, name)  # before any pass runs
        clips, views = self._test_clips_by_count(inputs, lengths)
        gflops_cache = self.__dict__.setdefault('_cascade_gflops', {})
        running = list(range(len(data_samples)))
        cost = torch.zeros(len(data_samples), len(counts), dtype=torch.float64)
        frames = torch.zeros(len(data_samples), len(counts), dtype=torch.long)
        scores = {}
        for step, (count, clip) in enumerate(zip(counts, clips)):
            if not running:
                break  # every video stopped at a lower count
            samples = [data_samples[i] for i in running]
            with self.backbone.frame_count(count):
                feats, predict_kwargs = self.extract_feat(
                    clip[running], test_mode=True)
                gflops = backbone_gflops(self.backbone,
                                         self._one_view(clip, count),
                                         gflops_cache)
            with _head_segments(self.cls_head, count):
                self.cls_head.predict(feats, samples, **predict_kwargs)
            predicted = torch.stack([s.pred_score for s in samples])
            sure = confidence(predicted, average, name)
            cost[running, step] = views * gflops
            frames[running, step] = views * lengths[step]
            last = step == len(counts) - 1
            stopped = set()
            for row, i in enumerate(running):
                scores.setdefault(i, []).append(predicted[row])
                if last or (thresholds is not None
                            and sure[row] >= thresholds[step]):
                    data_samples[i].cascade_count = count
                    stopped.add(i)
            running = [i for i in running if i not in stopped]
        for i, sample in enumerate(data_samples):
            sample.cascade_counts = counts
            sample.cascade_frames = int(frames[i].sum())
            sample.cascade_gflops = float(cost[i].sum())
            if thresholds is None:
                # Calibration: every count's scores and per-count costs.
                sample.cascade_scores = torch.stack(scores[i])
                sample.cascade_count_gflops = cost[i].clone()
                sample.cascade_count_frames = frames[i].clone()
        return data_samples

    def _forward_at(self, inputs, count: int, stage: str):
        """``mode='tensor'`` at a known count."""
        # Stop before the head: the stock extract_feat would run it with the
        # head's own num_segments instead of this clip's count.
        feat_stage = 'neck' if stage == 'head' else stage
        with self.backbone.frame_count(count):
            feats, predict_kwargs = self.extract_feat(inputs, stage=feat_stage)
        if stage != 'head':
            return feats
        with _head_segments(self.cls_head, count):
            return self.cls_head(feats, **predict_kwargs)
