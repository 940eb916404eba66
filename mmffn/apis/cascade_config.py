"""Config helpers for cascade testing (``mmffn.models.recognizers.cascade``):
the model's ``test_cfg.cascade``, a test loader that draws every count's clip
in one decode, and the evaluator that logs the cost.

In a config that tests an FFN model (``configs/cascade/`` has examples)::

    from mmffn.apis import cascade_evaluator, cascade_loader, cascade_model
    model = cascade_model(_base_.model, thresholds=(0.9, 0.8))
    test_dataloader = cascade_loader(_base_.test_dataloader, (4, 8, 16))
    test_evaluator = cascade_evaluator(_base_.test_evaluator)
"""
import copy
from typing import Optional, Sequence

from ..models.families import FFN_RECOGNIZERS
from ..models.recognizers.cascade import cascade_settings
from ..utils import check_frame_counts
from .pipeline_config import (_loader_with_pipeline, _sampler_index,
                              multi_rate_pipeline)

__all__ = [
    'cascade_model', 'cascade_pipeline', 'cascade_loader', 'cascade_evaluator'
]


def cascade_model(model: dict,
                  thresholds: Optional[Sequence[float]],
                  counts: Optional[Sequence[int]] = None) -> dict:
    """A copy of an FFN model config that tests as a cascade.

    Args:
        model (dict): An FFN model config (``RecognizerFFN`` or
            ``RecognizerFFN3D``, e.g. from ``frame_flexible_model``).
        thresholds (Sequence[float], optional): The top class probability
            at which a video stops, one per count but the last, each in
            (0, 1]; None runs every count (calibration).
        counts (Sequence[int], optional): Trained counts to run, lowest
            first. Defaults to all the backbone's trained counts.
    """
    model = copy.deepcopy(dict(model))
    if model.get('type') not in FFN_RECOGNIZERS.values():
        raise ValueError(
            'A cascade runs the counts of one frame-flexible model, so it '
            f'needs an FFN recognizer ({sorted(FFN_RECOGNIZERS.values())}),'
            f" got type={model.get('type')!r}; convert the model with "
            'mmffn.apis.frame_flexible_model first')
    trained = tuple(model['backbone'].get('num_segments_list', (4, 8, 16)))
    cascade = dict(
        counts=tuple(trained if counts is None else counts),
        thresholds=None if thresholds is None else tuple(thresholds))
    cascade_settings(cascade, trained, 'cascade_model')  # checked now
    # Replaces an inherited test_cfg as a whole: MMAction2's recipes leave
    # it None, which a dict cannot be merged into.
    model['test_cfg'] = dict(
        model.get('test_cfg') or {}, cascade=cascade, _delete_=True)
    return model


def cascade_pipeline(pipeline: Sequence[dict],
                     counts: Sequence[int],
                     frames_per_count: int = 1,
                     mode: Optional[str] = None) -> list:
    """A stock test pipeline (sampler in ``test_mode``) that draws a clip of
    every count per view, decoded once: the multi-rate sampler in test mode,
    every other step (crops, views) kept."""
    counts = check_frame_counts(counts, 'counts')
    sampler = pipeline[_sampler_index(pipeline)]
    if not sampler.get('test_mode', False):
        raise ValueError(
            'cascade_pipeline converts a test pipeline (a sampler with '
            f"test_mode=True), got {sampler.get('type')} with test_mode="
            f"{sampler.get('test_mode', False)!r}")
    return multi_rate_pipeline(pipeline, counts, frames_per_count, mode)


def cascade_loader(loader: dict,
                   counts: Sequence[int],
                   frames_per_count: int = 1,
                   mode: Optional[str] = None) -> dict:
    """A test dataloader config with :func:`cascade_pipeline`."""
    return _loader_with_pipeline(
        loader, lambda p: cascade_pipeline(p, counts, frames_per_count, mode))


def cascade_evaluator(evaluator) -> list:
    """The test evaluator (a metric config or a list of them) with
    ``CascadeMetric`` added."""
    metrics = [
        copy.deepcopy(dict(m))
        for m in (evaluator if isinstance(evaluator, (list,
                                                      tuple)) else [evaluator])
    ]
    if not any(m.get('type') == 'CascadeMetric' for m in metrics):
        metrics.append(dict(type='CascadeMetric'))
    return metrics
