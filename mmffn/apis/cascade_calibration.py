"""Threshold calibration for cascade testing
(:mod:`mmffn.models.recognizers.cascade`).

One test run with ``thresholds=None`` runs every count on every video and
keeps each count's scores and cost (:func:`collect_cascade_records`). A
cascade's result for any thresholds follows from those records without
another pass: the counts share no state between videos, and the model is
in eval mode, so a video's prediction at a count does not depend on which
other videos reached it. :func:`sweep_cascade` evaluates a threshold grid,
:func:`pick_thresholds` takes the cheapest point within an accuracy drop of
the highest count, which ``tools/calibrate_cascade.py`` prints, plots and
writes as JSON.
"""
import copy
import itertools
import json
import os
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from ..models.families import input_frames_per_count
from ..models.recognizers.cascade import check_average_clips, confidence
from .cascade_config import cascade_evaluator, cascade_loader, cascade_model

__all__ = [
    'CascadeRecords', 'collect_cascade_records', 'cascade_point',
    'fixed_count_points', 'sweep_cascade', 'pick_thresholds',
    'calibrate_cascade', 'write_calibration', 'plot_calibration'
]

# Thresholds 0.05, 0.10, ..., 1.00: 400 points for three counts.
DEFAULT_GRID = tuple(round(0.05 * i, 2) for i in range(1, 21))


class CascadeRecords(NamedTuple):
    """Every count's result on every video of a calibration run.

    Attributes:
        counts (tuple[int]): The counts, lowest first.
        scores (Tensor): ``(videos, counts, classes)`` head scores (views
            averaged as the head's ``average_clips`` says).
        labels (Tensor): ``(videos, )`` ground-truth labels.
        gflops (Tensor): ``(videos, counts)`` backbone GFLOPs of each
            count's pass, views included.
        frames (Tensor): ``(videos, counts)`` input frames of each pass.
        average_clips (str): The head's ``average_clips`` ('prob' or
            'score'), which says how scores become probabilities.
    """
    counts: Tuple[int, ...]
    scores: torch.Tensor
    labels: torch.Tensor
    gflops: torch.Tensor
    frames: torch.Tensor
    average_clips: str


def _records_from_results(results: List[Dict],
                          average_clips: str) -> CascadeRecords:
    if not results:
        raise ValueError('the calibration run predicted no video: the '
                         'dataset of its test loader is empty')
    if any('scores' not in r for r in results):
        raise ValueError('the calibration run needs thresholds=None (every '
                         'count on every video); these results stopped early')
    unlabelled = sum(r['label'] < 0 for r in results)
    if unlabelled:
        raise ValueError(f'{unlabelled} of {len(results)} calibration videos '
                         'have no label; calibration needs a labelled list')
    return CascadeRecords(
        counts=tuple(results[0]['counts']),
        scores=torch.stack([r['scores'].float() for r in results]),
        labels=torch.tensor([r['label'] for r in results]),
        gflops=torch.stack([r['count_gflops'].double() for r in results]),
        frames=torch.stack([r['count_frames'].long() for r in results]),
        average_clips=average_clips)


def collect_cascade_records(config: str,
                            checkpoint: str,
                            work_dir: str,
                            counts: Optional[Sequence[int]] = None,
                            split: str = 'val',
                            cfg_options: Optional[dict] = None
                            ) -> CascadeRecords:
    """Run every count on every video of a labelled list (MMAction2's test
    loop, ``Runner.test``) and keep each count's scores and cost.

    Args:
        config (str): Config file of an FFN model (a mixing config, say).
        checkpoint (str): Its checkpoint.
        work_dir (str): Where the run writes its log.
        counts (Sequence[int], optional): Trained counts to cascade, lowest
            first; defaults to all trained counts.
        split (str): ``'val'`` calibrates on the validation list (as one
            should: thresholds picked on the test list overfit it), read
            with the test pipeline, whose views set the confidences;
            ``'test'`` on the test loader.
        cfg_options (dict, optional): Overrides merged into the config.
    """
    from mmengine.runner import Runner

    import mmffn  # noqa: F401  (registers modules, stack fixes)
    if split not in ('val', 'test'):
        raise ValueError(f"split must be 'val' or 'test', got {split!r}")
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    loader = cfg.get(f'{split}_dataloader')
    if not loader:
        raise ValueError(f'{config} has no {split}_dataloader to calibrate on')
    if split == 'val':
        # The validation videos with the test pipeline: confidences depend
        # on the views averaged, so thresholds must see tools/test.py's.
        loader = copy.deepcopy(loader)
        test_loader = cfg.test_dataloader
        loader.dataset.pipeline = copy.deepcopy(
            test_loader.get('pipeline') or test_loader.dataset.pipeline)
    evaluator = cfg.get(f'{split}_evaluator') or dict(type='AccMetric')
    average = cfg.model.get('cls_head', {}).get('average_clips')
    check_average_clips(average, 'calibrate_cascade')
    cfg.model = cascade_model(cfg.model, thresholds=None, counts=counts)
    cfg.model.test_cfg.pop('_delete_')  # set here, not merged
    counts = cfg.model.test_cfg.cascade.counts
    cfg.test_dataloader = cascade_loader(loader, counts,
                                         input_frames_per_count(cfg.model))
    cfg.test_dataloader.pop('_delete_', None)
    cfg.test_evaluator = cascade_evaluator(evaluator)
    cfg.test_cfg = cfg.get('test_cfg') or dict(type='TestLoop')
    cfg.load_from = checkpoint
    cfg.work_dir = work_dir
    cfg.launcher = 'none'
    runner = Runner.from_cfg(cfg)
    runner.test()
    metric = next(
        m for m in runner.test_evaluator.metrics
        if type(m).__name__ == 'CascadeMetric')
    return _records_from_results(metric.last_results, average)


def _confidences(records: CascadeRecords, caller: str) -> torch.Tensor:
    """``(videos, counts)`` top class probabilities (``caller`` names the
    function in errors)."""
    return confidence(
        records.scores.flatten(0, 1), records.average_clips,
        caller).view(records.scores.shape[:2])


def cascade_point(records: CascadeRecords,
                  thresholds: Sequence[float],
                  sure: Optional[torch.Tensor] = None) -> Dict:
    """What a cascade with ``thresholds`` gives on the records: accuracy,
    mean GFLOPs and frames per video, and each count's share. ``sure``:
    the records' confidences when already computed (a sweep)."""
    counts = records.counts
    if len(thresholds) != len(counts) - 1:
        raise ValueError(f'thresholds needs {len(counts) - 1} values (one '
                         f'per count but the last of {counts}), got '
                         f'{tuple(thresholds)}')
    if sure is None:
        sure = _confidences(records, 'cascade_point')
    stops = torch.full_like(records.labels, len(counts) - 1)
    for step in reversed(range(len(counts) - 1)):
        stops = torch.where(sure[:, step] >= thresholds[step],
                            torch.full_like(stops, step), stops)
    videos = torch.arange(len(stops))
    predicted = records.scores[videos, stops].argmax(dim=-1)
    ran = torch.arange(len(counts))[None] <= stops[:, None]
    return dict(
        thresholds=tuple(float(t) for t in thresholds),
        accuracy=float((predicted == records.labels).double().mean()),
        mean_gflops=float((records.gflops * ran).sum(1).mean()),
        mean_frames=float((records.frames * ran).sum(1).double().mean()),
        shares={
            int(c): float((stops == i).double().mean())
            for i, c in enumerate(counts)
        })


def fixed_count_points(records: CascadeRecords) -> List[Dict]:
    """Each count alone on every video: accuracy and mean cost."""
    points = []
    for i, count in enumerate(records.counts):
        predicted = records.scores[:, i].argmax(dim=-1)
        points.append(
            dict(
                count=int(count),
                accuracy=float((predicted == records.labels).double().mean()),
                mean_gflops=float(records.gflops[:, i].mean()),
                mean_frames=float(records.frames[:, i].double().mean())))
    return points


def sweep_cascade(records: CascadeRecords,
                  grid: Sequence[float] = DEFAULT_GRID) -> List[Dict]:
    """:func:`cascade_point` for every combination of grid thresholds."""
    for value in grid:
        if isinstance(
                value,
                bool) or not isinstance(value,
                                        (int, float)) or not 0 < value <= 1:
            raise ValueError('grid thresholds must lie in (0, 1] (top class '
                             f'probabilities), got {value!r}')
    combos = itertools.product(
        sorted(set(grid)), repeat=len(records.counts) - 1)
    sure = _confidences(records, 'sweep_cascade')  # once for every point
    return [cascade_point(records, combo, sure) for combo in combos]


def pick_thresholds(points: Sequence[Dict], reference_accuracy: float,
                    max_drop: float) -> Optional[Dict]:
    """The cheapest point (mean GFLOPs; then the more accurate) whose
    accuracy is at most ``max_drop`` points (percent) below the reference;
    None if no point is."""
    if max_drop < 0:
        raise ValueError(f'max_drop is in accuracy points and cannot be '
                         f'negative, got {max_drop}')
    # A tiny slack: accuracies are ratios of video counts in float.
    floor = reference_accuracy - max_drop / 100 - 1e-9
    within = [p for p in points if p['accuracy'] >= floor]
    if not within:
        return None
    return min(within, key=lambda p: (p['mean_gflops'], -p['accuracy']))


def calibrate_cascade(records: CascadeRecords,
                      max_drop: float = 0.5,
                      grid: Sequence[float] = DEFAULT_GRID) -> Dict:
    """The sweep, the fixed counts and the picked thresholds, measured
    against the highest count; ``config`` is the line to put in a config."""
    fixed = fixed_count_points(records)
    points = sweep_cascade(records, grid)
    picked = pick_thresholds(points, fixed[-1]['accuracy'], max_drop)
    result = dict(
        counts=records.counts,
        videos=int(len(records.labels)),
        max_drop=float(max_drop),
        fixed=fixed,
        points=points,
        picked=picked)
    if picked is not None:
        result['config'] = (
            f'model = cascade_model(_base_.model, thresholds='
            f"{picked['thresholds']}, counts={tuple(records.counts)})")
        result['gflops_saving'] = 1 - (
            picked['mean_gflops'] / fixed[-1]['mean_gflops'])
        # Below the allowance a cascade can cost more than the highest
        # count alone (every video runs every count): it saves nothing then.
        result['saves'] = result['gflops_saving'] > 0
    return result


def _pareto(points: Sequence[Dict]) -> List[Dict]:
    """Points no other point beats on both cost and accuracy."""
    front, best = [], -1.0
    for point in sorted(
            points, key=lambda p: (p['mean_gflops'], -p['accuracy'])):
        if point['accuracy'] > best:
            front.append(point)
            best = point['accuracy']
    return front


def calibration_table(result: Dict) -> str:
    """Markdown: the fixed counts, the cascade's Pareto front, the pick."""
    lines = [
        '| run | top-1 (%) | mean GFLOPs / video | mean frames / video |',
        '|---|---|---|---|'
    ]

    def row(name, p):
        lines.append(f"| {name} | {100 * p['accuracy']:.2f} | "
                     f"{p['mean_gflops']:.3f} | {p['mean_frames']:.2f} |")

    for point in result['fixed']:
        row(f"{point['count']} frames", point)
    for point in _pareto(result['points']):
        mark = ' (picked)' if point == result['picked'] else ''
        row(f"cascade {point['thresholds']}{mark}", point)
    return '\n'.join(lines) + '\n'


def write_calibration(result: Dict, out_dir: str) -> List[str]:
    """``cascade_calibration.json`` (every point) and ``.md`` (table)."""
    os.makedirs(out_dir, exist_ok=True)
    path_json = osp.join(out_dir, 'cascade_calibration.json')
    with open(path_json, 'w') as f:
        json.dump(result, f, indent=1)
    path_md = osp.join(out_dir, 'cascade_calibration.md')
    with open(path_md, 'w') as f:
        f.write(calibration_table(result))
    return [path_json, path_md]


def plot_calibration(result: Dict, out_path: str) -> str:
    """Accuracy against mean GFLOPs per video: every swept cascade, its
    Pareto front, each fixed count and the picked point."""
    from .frame_sweep import _pyplot
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    points = result['points']
    ax.scatter([p['mean_gflops'] for p in points],
               [100 * p['accuracy'] for p in points],
               s=6,
               color='0.7',
               label='cascade (threshold grid)')
    front = _pareto(points)
    ax.plot([p['mean_gflops'] for p in front],
            [100 * p['accuracy'] for p in front],
            color='tab:blue',
            label='cascade, best per cost')
    fixed = result['fixed']
    ax.plot([p['mean_gflops'] for p in fixed],
            [100 * p['accuracy'] for p in fixed],
            marker='s',
            color='tab:orange',
            label='fixed count')
    for p in fixed:
        ax.annotate(
            f"{p['count']}F", (p['mean_gflops'], 100 * p['accuracy']),
            textcoords='offset points',
            xytext=(4, -10),
            fontsize=8)
    if result.get('picked'):
        p = result['picked']
        ax.plot([p['mean_gflops']], [100 * p['accuracy']],
                marker='*',
                markersize=14,
                linestyle='',
                color='tab:red',
                label=f"picked {p['thresholds']}")
    ax.set_xlabel('mean backbone GFLOPs per video')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path
