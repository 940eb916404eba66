"""Cascade inference: each video runs at the lowest count first and goes on
to the next count only while the model is not confident.

An FFN model shares its weights across counts, and a 4-frame pass costs a
quarter of a 16-frame one, so a video the model already recognises at 4
frames does not need 16. Per video, with counts ``(4, 8, 16)`` and
thresholds ``(t4, t8)``: run the 4-frame branch on its 4-frame clip; if the
top class probability reaches ``t4``, that is the prediction; else run the
8-frame branch on its own 8-frame clip, compare with ``t8``; else the
16-frame prediction is final. The clips of all counts come from one decode
(the multi-rate sampler in test mode, :func:`mmffn.apis.cascade_loader`).

The recognizers read it from ``test_cfg``::

    test_cfg=dict(cascade=dict(counts=(4, 8, 16), thresholds=(0.9, 0.8)))

``thresholds=None`` runs every count on every video and keeps each count's
scores (``cascade_scores``), which ``tools/calibrate_cascade.py`` reads to
pick thresholds.

Each data sample gets ``cascade_count`` (the count it stopped at),
``cascade_frames`` (input frames its backbone passes read, views and earlier
counts included) and ``cascade_gflops`` (the backbone FLOPs of those
passes); ``CascadeMetric`` turns them into the logged means and shares.
"""
import warnings
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import torch

from ...utils import check_frame_counts

__all__ = [
    'CascadeSettings', 'cascade_settings', 'check_average_clips', 'confidence',
    'backbone_gflops'
]


class CascadeSettings(NamedTuple):
    """A checked ``test_cfg.cascade``.

    Attributes:
        counts (tuple[int]): Counts run in order, each a trained count.
        thresholds (tuple[float], optional): One per count but the last, in
            (0, 1]; None to run every count (calibration).
    """
    counts: Tuple[int, ...]
    thresholds: Optional[Tuple[float, ...]]


def cascade_settings(cfg: Optional[dict], trained: Sequence[int],
                     owner: str) -> Optional[CascadeSettings]:
    """``test_cfg.cascade`` checked against the trained counts, or None
    when the config has no cascade."""
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise ValueError(f'{owner}: test_cfg.cascade must be a dict such as '
                         'dict(counts=(4, 8, 16), thresholds=(0.9, 0.8)), '
                         f'got {cfg!r}')
    unknown = sorted(set(cfg) - {'counts', 'thresholds'})
    if unknown:
        raise ValueError(f'{owner}: test_cfg.cascade takes counts and '
                         f'thresholds, got unknown keys {unknown}')
    counts = check_frame_counts(
        cfg.get('counts', tuple(trained)), 'test_cfg.cascade.counts')
    untrained = [c for c in counts if c not in tuple(trained)]
    if untrained:
        raise ValueError(
            f'{owner}: test_cfg.cascade.counts {counts} has counts that were '
            f'not trained: {untrained}; the trained counts are '
            f'{tuple(trained)}')
    if len(counts) < 2:
        raise ValueError(f'{owner}: a cascade needs at least 2 counts, got '
                         f'test_cfg.cascade.counts={counts}')
    thresholds = cfg.get('thresholds', 'missing')
    if thresholds is None:
        return CascadeSettings(counts, None)
    if thresholds == 'missing' or isinstance(
            thresholds, (str, bytes)) or not hasattr(thresholds, '__len__'):
        raise ValueError(
            f'{owner}: test_cfg.cascade.thresholds must be one probability '
            f'per count but the last ({len(counts) - 1} for counts {counts}),'
            f' or None to run every count; got {thresholds!r}')
    if len(thresholds) != len(counts) - 1:
        raise ValueError(
            f'{owner}: test_cfg.cascade.thresholds needs {len(counts) - 1} '
            f'values (one per count but the last of {counts}), got '
            f'{tuple(thresholds)}')
    for value in thresholds:
        if isinstance(
                value,
                bool) or not isinstance(value,
                                        (int, float)) or not 0 < value <= 1:
            raise ValueError(
                f'{owner}: test_cfg.cascade.thresholds must lie in (0, 1] '
                f'(top class probabilities), got {value!r} in '
                f'{tuple(thresholds)}')
    return CascadeSettings(counts, tuple(float(t) for t in thresholds))


def confidence(pred_scores: torch.Tensor, average_clips: Optional[str],
               owner: str) -> torch.Tensor:
    """Top class probability of each prediction ``(N, classes)``.

    With ``average_clips='prob'`` the head's scores are probabilities;
    with ``'score'`` they are averaged logits, whose softmax is taken.
    """
    check_average_clips(average_clips, owner)
    if average_clips == 'prob':
        return pred_scores.max(dim=-1).values
    return pred_scores.softmax(dim=-1).max(dim=-1).values


def check_average_clips(average_clips: Optional[str], owner: str) -> None:
    """A cascade needs one averaged prediction per video."""
    if average_clips in ('prob', 'score'):
        return
    raise ValueError(
        f"{owner}: a cascade compares the top class probability of each "
        f"video, so the head must average its views: cls_head.average_clips "
        f"must be 'prob' or 'score', got {average_clips!r}")


def backbone_gflops(backbone: torch.nn.Module, view: torch.Tensor,
                    cache: Dict) -> float:
    """Backbone GFLOPs of one view, counted with MMEngine's counter as
    MMAction2's ``get_flops.py`` does, once per view shape (cached)."""
    key = tuple(view.shape)
    if key not in cache:
        from mmengine.analysis import FlopAnalyzer
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        level = logger.level
        # The counter warns about every op it does not count (shifts, adds).
        logger.setLevel('ERROR')
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter('ignore')
                analyzer = FlopAnalyzer(backbone, (view, ))
                analyzer.unsupported_ops_warnings(False)
                analyzer.uncalled_modules_warnings(False)
                cache[key] = analyzer.total() / 1e9
        finally:
            logger.setLevel(level)
    return cache[key]
