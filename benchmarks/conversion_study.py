"""What to train in a label-free conversion: a study on the CPU demo set.

    python benchmarks/conversion_study.py --seeds 0 1 2

Converts the demo's vanilla TSM (configs/demo/tsm_r18_16f_demo.py, trained
with tools/train.py at --stock-seed unless --stock-checkpoint names one)
with configs/demo/ffn_convert_tsm_r18_demo.py in several ways (ARMS), once
per seed (data order and frame draws), each through tools/train.py; sweeps
every result with tools/frame_sweep.py; writes the mean and standard
deviation over seeds per arm and frame count, the wall time of each
conversion, and a plot to --out (docs/label_free_conversion_study.*).
``--quick`` is a smoke run on a tiny set.
"""
import argparse
import json
import os.path as osp
import time

from study_runs import (DEMO, REPO, add_study_arguments, demo_data,
                        epochs_options, iteration_options, last_checkpoint,
                        mean_std, plot, read_sweep, run, summarise)

STOCK = osp.join(DEMO, 'tsm_r18_16f_demo.py')
CONVERT = osp.join(DEMO, 'ffn_convert_tsm_r18_demo.py')
# (label, trainable parts, steps); re-estimation trains nothing.
ARMS = (
    ('BN re-estimation, 50 steps', '()', 50),
    ('norms, 300 steps', '[norms]', 300),
    ('norms + adapters, 100 steps', '[norms,adapters]', 100),
    ('norms + adapters, 300 steps', '[norms,adapters]', 300),
    ('norms + adapters, 1000 steps', '[norms,adapters]', 1000),
    ('norms + adapters + 16F norms, 300 steps', '[norms,adapters,teacher]',
     300),
)
FRAMES = [2, 4, 6, 8, 12, 16, 20]


def write_outputs(out, per_seed, times, frames, stock_row, seconds):
    seeds = sorted(per_seed)
    summary = summarise(per_seed, frames)
    lines = [
        f'Seeds {seeds} (data order and frame draws of the conversion; one '
        'stock TSM checkpoint): top-1 % on the 400 validation videos, mean ± '
        f'standard deviation over seeds. Study wall time {seconds / 60:.0f} '
        'min.', '', '| arm | ' + ' | '.join(f'{t}F' for t in frames) +
        ' | conversion wall time (s) |', '|---|' + '---|' * (len(frames) + 1),
        '| stock TSM (16F), as trained | ' +
        ' | '.join(f'{stock_row[t]:.2f}' for t in frames) + ' | |'
    ]
    for label, row in summary.items():
        cells = [f'{m:.2f} ± {s:.2f}' for m, s in (row[t] for t in frames)]
        time_cell = f'{mean_std(times[label])[0]:.0f}'
        lines.append(f'| {label} | ' + ' | '.join(cells) + f' | {time_cell} |')
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(out + '.json', 'w') as f:
        json.dump(
            dict(
                per_seed=per_seed,
                stock=stock_row,
                frames=frames,
                conversion_seconds=times,
                wall_seconds=seconds),
            f,
            indent=1)
    rows = {'stock TSM (16F)': {t: (stock_row[t], 0.0) for t in frames}}
    rows.update(summary)
    plot(out + '.png', frames, rows,
         f'label-free conversion, seeds {seeds}: mean ± std')
    print('\n'.join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    add_study_arguments(parser, 'conversion_study')
    parser.add_argument(
        '--stock-checkpoint',
        default=None,
        help='the demo TSM to convert (default: trained here with seed '
        '--stock-seed)')
    parser.add_argument('--stock-seed', type=int, default=0)
    args = parser.parse_args()
    quick = args.quick
    work_root = args.work_dir or osp.join(
        REPO, 'work_dirs', 'conversion_study' + ('_quick' if quick else ''))
    out = args.out or (osp.join(work_root, 'conversion_study') if quick else
                       osp.join(REPO, 'docs', 'label_free_conversion_study'))
    start = time.time()
    _, options = demo_data(quick, args.data_root)
    frames = [4, 16] if quick else FRAMES
    arms = [(label, parts, 2 if quick else steps)
            for label, parts, steps in ARMS]
    stock = args.stock_checkpoint
    if stock is None:
        stock_dir = osp.join(work_root, 'stock')
        stock = last_checkpoint(stock_dir)
        if stock is None:
            run([
                'tools/train.py', STOCK, '--work-dir', stock_dir,
                '--cfg-options', f'randomness.seed={args.stock_seed}'
            ] + options + (epochs_options(1) if quick else []))
            stock = last_checkpoint(stock_dir)
    per_seed, times = {}, {label: [] for label, _, _ in arms}
    stock_row = None
    for seed in args.seeds:
        pairs, labels = [], []
        if stock_row is None:
            pairs += [STOCK, stock]
            labels.append('stock')
        for index, (label, parts, steps) in enumerate(arms):
            work = osp.join(work_root, f'seed{seed}', f'arm{index}')
            started = time.time()
            run([
                'tools/train.py', CONVERT, '--work-dir', work, '--cfg-options',
                f'randomness.seed={seed}', f'model.stock_checkpoint={stock}',
                f'model.trainable={parts}'
            ] + options + iteration_options(steps))
            times[label].append(time.time() - started)
            pairs += [CONVERT, last_checkpoint(work)]
            labels.append(label)
        sweep = osp.join(work_root, f'seed{seed}', 'sweep')
        run(['tools/frame_sweep.py'] + pairs + ['--frames'] +
            [str(t) for t in frames] + ['--out-dir', sweep, '--labels'] +
            labels + ['--cfg-options'] + options)
        rows = read_sweep(osp.join(sweep, 'frame_sweep.csv'))
        if stock_row is None:
            stock_row = rows.pop('stock')
        per_seed[seed] = rows
    write_outputs(out, per_seed, times, frames, stock_row, time.time() - start)


if __name__ == '__main__':
    main()
