"""Run a frame sweep: the accuracy of checkpoints at many frame counts
(Figure 1 of the FFN paper), written as tables and a plot.

Each evaluation is MMAction2's own test loop (``Runner.test``) with the test
pipeline at T frames (:func:`~mmffn.apis.fixed_frames_pipeline`:
``SampleFrames(num_clips=T)`` for 2D models, clips of ``clip_len=T`` for 3D
ones, ``T * resample_rate`` for SlowFast). An FFN model needs nothing else
(it reads T from the data); a vanilla 2D model such as MMAction2's TSM is
evaluated at T the way one would by hand, by setting
``model.backbone.num_segments`` and ``model.cls_head.num_segments`` to T; a
vanilla 3D model takes any clip length as it is (one told it with no
weight shaped by it, as UniFormerV2's ``t_size``, is rebuilt at T).
"""
import csv
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from ..models.families import FAMILIES, input_frames_per_count
from ..utils import check_frame_count
from .pipeline_config import fixed_frames_pipeline

__all__ = [
    'sweep_arguments', 'evaluate_at_frames', 'write_frame_sweep_tables',
    'plot_frame_sweep'
]


def _trained_counts(spec: str, label: str) -> List[int]:
    counts = []
    for item in spec.split(','):
        item = item.strip()
        if not item:
            continue
        try:
            counts.append(int(item))
        except ValueError:
            raise ValueError(
                f'trained frame counts of {label!r} must be comma-separated '
                f'positive ints such as "4,8,16", got {spec!r} ({item!r} is '
                'not a number)') from None
        check_frame_count(counts[-1], f'trained frame count of {label!r}')
    return counts


def sweep_arguments(
    pairs: Sequence[Tuple[str, str]],
    labels: Optional[Sequence[str]] = None,
    trained_frames: Optional[Sequence[str]] = None
) -> Tuple[List[str], Optional[Dict[str, List[int]]]]:
    """Check a sweep's arguments before any evaluation runs (a bad one at
    the end must not cost the runs before it).

    Args:
        pairs (Sequence[tuple]): ``(config, checkpoint)`` per model.
        labels (Sequence[str], optional): A distinct label per model;
            defaults to the configs' file names.
        trained_frames (Sequence[str], optional): Per model, its trained
            counts as ``"4,8,16"``.

    Returns:
        tuple: The labels and ``{label: trained counts}`` (or None).

    Raises:
        ValueError: naming the value: labels that repeat (two models would
            share one column), a count that is not a positive int, a
            missing config file, or a count of values that is not one per
            model.
    """
    pairs = [tuple(pair) for pair in pairs]
    given = labels is not None
    labels = list(labels) if given else [
        osp.splitext(osp.basename(config))[0] for config, _ in pairs
    ]
    for name, values in (('labels', labels), ('trained frames',
                                              trained_frames)):
        if values is not None and len(values) != len(pairs):
            raise ValueError(f'{name} needs one value per model ({len(pairs)}'
                             f'), got {len(values)}: {list(values)}')
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(
            f'Each model needs its own label, but {repeated} names several '
            '(their results would be merged into one column); ' +
            ('give distinct --labels.' if given else 'the labels default to '
             'the config names: give distinct --labels.'))
    missing = [config for config, _ in pairs if not osp.isfile(config)]
    if missing:
        raise ValueError(f'Config files not found: {missing}')
    trained = None if trained_frames is None else {
        label: _trained_counts(spec, label)
        for label, spec in zip(labels, trained_frames)
    }
    return labels, trained


def _set_test_frames(cfg: Config, frames: int) -> None:
    dataset = cfg.test_dataloader.dataset
    dataset.pipeline = fixed_frames_pipeline(dataset.pipeline, frames,
                                             input_frames_per_count(cfg.model))
    if cfg.model.get('type') == 'Recognizer2D':
        # A fixed-T model: rebuild it for T, as one would evaluate it by hand.
        cfg.model.backbone.num_segments = frames
        if 'num_segments' in cfg.model.get('cls_head', {}):
            cfg.model.cls_head.num_segments = frames
    elif cfg.model.get('type') == 'Recognizer3D':
        # A 3D backbone told its clip length with no weight shaped by it
        # (UniFormerV2's t_size splits the batch into clips): rebuilt at T.
        family = FAMILIES.get(cfg.model.backbone.get('type'))
        if family is not None and family.frames_arg and family.any_count:
            cfg.model.backbone[family.frames_arg] = frames


def evaluate_at_frames(config: str,
                       checkpoint: str,
                       frames: Sequence[int],
                       work_dir: str,
                       cfg_options: Optional[dict] = None,
                       metric: str = 'acc/top1') -> Dict[int, float]:
    """Top-1 accuracy of one checkpoint at each frame count.

    Args:
        config (str): Config file of the model.
        checkpoint (str): Checkpoint to evaluate.
        frames (Sequence[int]): Frame counts to test.
        work_dir (str): Where the test runs write their logs.
        cfg_options (dict, optional): Overrides merged into the config.
        metric (str): Metric key returned by the test evaluator.

    Returns:
        dict[int, float]: ``{T: metric}``.
    """
    from mmengine.runner import Runner

    import mmffn  # noqa: F401  (registers modules, stack fixes)

    # Every count before the first run: a bad one at the end of the list
    # must not cost the runs before it.
    counts = [check_frame_count(count, 'frame count') for count in frames]
    results = {}
    for count in counts:
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        _set_test_frames(cfg, count)
        cfg.load_from = checkpoint
        cfg.work_dir = osp.join(work_dir, f'frames_{count}')
        cfg.launcher = 'none'
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
        if metric not in metrics:
            raise KeyError(f'metric {metric!r} not among {sorted(metrics)}')
        results[int(count)] = float(metrics[metric])
    return results


def write_frame_sweep_tables(results: Dict[str, Dict[int, float]],
                             out_dir: str) -> List[str]:
    """Write ``frame_sweep.md`` and ``frame_sweep.csv`` (accuracy in %).

    Args:
        results (dict): ``{model label: {T: accuracy in [0, 1]}}``.
        out_dir (str): Output folder.

    Returns:
        list[str]: The two paths.
    """
    os.makedirs(out_dir, exist_ok=True)
    labels = list(results)
    counts = sorted({t for r in results.values() for t in r})
    md = osp.join(out_dir, 'frame_sweep.md')
    with open(md, 'w') as f:
        f.write('| frames | ' + ' | '.join(labels) + ' |\n')
        f.write('|---' * (len(labels) + 1) + '|\n')
        for t in counts:
            cells = [
                f'{100 * results[m][t]:.2f}' if t in results[m] else ''
                for m in labels
            ]
            f.write(f'| {t} | ' + ' | '.join(cells) + ' |\n')
    path_csv = osp.join(out_dir, 'frame_sweep.csv')
    with open(path_csv, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['frames'] + labels)
        for t in counts:
            writer.writerow([t] + [
                f'{100 * results[m][t]:.2f}' if t in results[m] else ''
                for m in labels
            ])
    return [md, path_csv]


# More swept counts than this get ticks from MaxNLocator (still integers).
_MAX_FRAME_TICKS = 12


def _pyplot():
    """``matplotlib.pyplot`` on the file-only Agg backend (no display)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _frame_sweep_figure(results: Dict[str, Dict[int, float]],
                        trained: Dict[str, Sequence[int]], title: str):
    """The figure of :func:`plot_frame_sweep` (not saved, not closed)."""
    from matplotlib.ticker import MaxNLocator

    fig, ax = _pyplot().subplots(figsize=(6, 4), dpi=100)
    for label, accs in results.items():
        counts = sorted(accs)
        line, = ax.plot(
            counts, [100 * accs[t] for t in counts],
            marker='o',
            markersize=4,
            label=label)
        marked = [t for t in counts if t in set(trained.get(label, ()))]
        if marked:
            ax.plot(
                marked, [100 * accs[t] for t in marked],
                linestyle='',
                marker='*',
                markersize=14,
                color=line.get_color())
    # Frame counts are whole numbers: ticks at the swept counts, not at the
    # 2.5, 7.5, ... that the default locator picks.
    swept = sorted({t for accs in results.values() for t in accs})
    if len(swept) <= _MAX_FRAME_TICKS:
        ax.set_xticks(swept)
    else:
        ax.xaxis.set_major_locator(
            MaxNLocator(nbins=_MAX_FRAME_TICKS, integer=True))
    ax.set_xlabel('frames at test time')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title(title + '  (stars: trained frame counts)', fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_frame_sweep(results: Dict[str, Dict[int, float]],
                     out_path: str,
                     trained: Optional[Dict[str, Sequence[int]]] = None,
                     title: str = 'Accuracy vs frames at test time') -> str:
    """Accuracy vs frame count, one line per model; trained counts marked,
    integer ticks at the swept counts.

    Args:
        results (dict): ``{model label: {T: accuracy in [0, 1]}}``.
        out_path (str): PNG path.
        trained (dict, optional): ``{model label: trained frame counts}``,
            drawn as large filled markers.
        title (str): Plot title.
    """
    fig = _frame_sweep_figure(results, trained or {}, title)
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path)
    _pyplot().close(fig)
    return out_path
