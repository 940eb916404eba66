"""A clear error when a stock ``Recognizer2D`` gets multi-rate clips.

A frame-flexible backbone (``ResNetTSM_FFN``...) also builds under MMAction2's
``Recognizer2D``, but only ``RecognizerFFN`` splits a multi-rate clip (4 + 8
+ 16 = 28 frames from ``MultiRateSampleFrames``) by count. ``Recognizer2D``
runs it as clips of the backbone's ``num_segments`` and fails far away
(``operands could not be broadcast together with shapes (4,1) (2,1)`` in
the head's loss) or on the backbone's batch check.

The check lives in ``Recognizer2D.loss`` because that is the one place that
sees both the recognizer type and the samples: the backbone gets a flat
``(N * 28, C, H, W)`` batch (for N = 4 that is 7 whole clips of 16, so a
batch check cannot tell), and the sampler does not know the model. The
signal is the sampler's ``clip_lens`` in the data samples, or, where
``PackActionInputs`` did not keep them, clips of exactly
``sum(num_segments_list)`` frames. ``RecognizerFFN`` overrides ``loss``;
nothing changes for other backbones.
"""
import functools

from .guard import MMACTION2_TESTED, wrap_once

__all__ = ['refuse_multi_rate_inputs_in_recognizer2d']


def _multi_rate_error(recognizer, inputs, data_samples):
    """The TypeError for multi-rate clips given to ``recognizer``, or None
    when its inputs are not multi-rate clips of a frame-flexible backbone.
    """
    # Imported here: patches are applied before mmffn.models is imported.
    from ..models.backbones import FrameFlexibleMixin
    backbone = getattr(recognizer, 'backbone', None)
    if not isinstance(backbone, FrameFlexibleMixin):
        return None
    counts = tuple(backbone.num_segments_list)
    sampled = sorted({
        tuple(sample.metainfo['clip_lens'])
        for sample in data_samples or () if 'clip_lens' in sample.metainfo
    })
    frames = inputs.shape[1] if inputs.dim() == 5 else None
    laid_out = (
        len(counts) > 1 and frames == sum(counts)
        and frames != backbone.active_frame_count)
    if not (sampled or laid_out):
        return None
    found = (f'data samples with clip_lens {sampled[0]}'
             if sampled else f'clips of {frames} = sum{counts} frames')
    return TypeError(
        f'{type(recognizer).__name__} with the frame-flexible '
        f'{type(backbone).__name__} got multi-rate training inputs ({found}),'
        ' which it would run as clips of '
        f'{backbone.active_frame_count} frames. Multi-rate inputs '
        "(MultiRateSampleFrames) need model type='RecognizerFFN', which "
        'splits them by frame count.')


def _loss_refusing_multi_rate_inputs(original):
    """``Recognizer2D.loss`` that raises :func:`_multi_rate_error` first."""

    @functools.wraps(original)
    def loss(self, inputs, data_samples, **kwargs):
        error = _multi_rate_error(self, inputs, data_samples)
        if error is not None:
            raise error
        return original(self, inputs, data_samples, **kwargs)

    return loss


def refuse_multi_rate_inputs_in_recognizer2d() -> None:
    """Make ``Recognizer2D.loss`` refuse multi-rate clips of a
    frame-flexible backbone with a TypeError naming ``RecognizerFFN``.

    Upstream: mmaction/models/recognizers/base.py, ``BaseRecognizer.loss``
    (as ``Recognizer2D.loss``).
    """
    from mmaction.models.recognizers import Recognizer2D
    wrap_once(
        Recognizer2D,
        'loss',
        _loss_refusing_multi_rate_inputs,
        package='mmaction2',
        tested=MMACTION2_TESTED,
        patch_name='refuse_multi_rate_inputs_in_recognizer2d '
        '(mmaction.models.recognizers.Recognizer2D.loss)')
