"""What the demo-set studies share: running repo commands, pointing the demo
configs at a data set, reading frame sweeps and summarising over seeds."""
import csv
import importlib.util
import os.path as osp
import statistics

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs', 'demo')
QUICK_DATA = dict(num_train=16, num_val=8, num_frames=24)


def _demo_tool():
    """tools/demo.py as a module: the studies run and point the demo configs
    the way the demo does."""
    spec = importlib.util.spec_from_file_location(
        'mmffn_demo_tool', osp.join(REPO, 'tools', 'demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_DEMO_TOOL = _demo_tool()
#: ``python args...`` in the repo, two OpenMP threads, checked.
run = _DEMO_TOOL.run
#: ``--cfg-options`` shortening an iteration-based schedule to ``steps``.
iteration_options = _DEMO_TOOL.conversion_options
#: ``--cfg-options`` shortening an epoch-based demo schedule to ``epochs``.
epochs_options = _DEMO_TOOL.epochs_options


def demo_data(quick, root=None):
    """(root, ``--cfg-options`` pointing every loader at it) of the demo
    set (generated once, in ``root`` or data/; the quick one is tiny)."""
    from mmffn.datasets.synthetic import generate_temporal_video_dataset
    root = root or osp.join(REPO, 'data',
                            'ffn_demo_quick' if quick else 'ffn_demo')
    manifest = generate_temporal_video_dataset(
        root, seed=0, **(QUICK_DATA if quick else {}))
    options = _DEMO_TOOL.data_options(root, len(manifest['classes']), None)
    return root, options


def last_checkpoint(work_dir):
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        checkpoint = f.read().strip()
    return checkpoint if osp.isfile(checkpoint) else None


def read_sweep(path):
    """{label: {frames: top-1 %}} of a frame_sweep.csv."""
    with open(path) as f:
        rows = list(csv.reader(f))
    return {
        label: {int(r[0]): float(r[i + 1])
                for r in rows[1:]}
        for i, label in enumerate(rows[0][1:])
    }


def mean_std(values):
    values = list(values)
    return (statistics.mean(values),
            statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(per_seed, frames):
    """{label: {frames: (mean, std)}} over the seeds of ``per_seed``
    ({seed: {label: {frames: top-1 %}}})."""
    labels = list(next(iter(per_seed.values())))
    return {
        label: {
            t: mean_std(rows[label][t] for rows in per_seed.values())
            for t in frames
        }
        for label in labels
    }


def add_study_arguments(parser, name):
    """--seeds, --quick, --data-root, --work-dir and --out of a study."""
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument(
        '--data-root', default=None, help='default: data/ffn_demo(_quick)')
    parser.add_argument(
        '--work-dir', default=None, help=f'default: work_dirs/{name}(_quick)')
    parser.add_argument(
        '--out', default=None, help='default: docs/<study> (quick: work dir)')


def plot(path, frames, rows, title=None):
    """Mean and standard deviation per row ({label: {frames: (m, s)}})."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for label, row in rows.items():
        ax.errorbar(
            frames, [row[t][0] for t in frames], [row[t][1] for t in frames],
            marker='o',
            capsize=3,
            label=label)
    ax.set_xlabel('frames at test time')
    ax.set_ylabel('top-1 %')
    ax.set_xticks(frames)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
