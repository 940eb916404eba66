"""The paper's baselines and ablations on the CPU demo set, over seeds.

    python benchmarks/ablation_study.py --seeds 0 1 2   # about 40 min a seed
    python benchmarks/ablation_study.py --quick            # smoke run

Trains every variant of VARIANTS (configs/demo/ and configs/demo/ablations/:
the same data, schedule and optimizer as the demo pair) with tools/train.py
for each seed (``randomness.seed``; the video set is the demo's, seed 0),
sweeps them over 2-20 frames with tools/frame_sweep.py and writes the mean and
standard deviation over seeds per variant and frame count, the per-seed rows
and a plot to --out (docs/ablation_study.*). "Separated training" is three
vanilla TSMs (4, 8, 16 frames); at T frames it uses the one of the nearest
trained count (ties to the higher, as FFN's branches). A run whose work
folder already holds a checkpoint is not trained again, so an interrupted
study continues where it stopped.
"""
import argparse
import json
import os.path as osp
import time

from study_runs import (DEMO, REPO, add_study_arguments, demo_data,
                        epochs_options, last_checkpoint, plot, read_sweep, run,
                        summarise)

# label: (config under configs/demo, trained counts)
VARIANTS = {
    'vanilla TSM (16F)': ('tsm_r18_16f_demo.py', (16, )),
    'TSM (4F)': ('ablations/tsm_r18_4f_demo.py', (4, )),
    'TSM (8F)': ('ablations/tsm_r18_8f_demo.py', (8, )),
    'FFN (4,8,16)': ('ffn_tsm_r18_demo.py', (4, 8, 16)),
    'FFN without specialised norm':
    ('ablations/ffn_tsm_r18_demo_no_specialised_norm.py', (4, 8, 16)),
    'FFN without weight alteration':
    ('ablations/ffn_tsm_r18_demo_no_weight_alteration.py', (4, 8, 16)),
    'FFN without distillation (CE on every count)':
    ('ablations/ffn_tsm_r18_demo_no_distillation.py', (4, 8, 16)),
    'FFN (4,8,12,16)':
    ('ablations/ffn_tsm_r18_demo_4_8_12_16.py', (4, 8, 12, 16)),
}
SEPARATED = ('separated training (3 TSMs)', ('TSM (4F)', 'TSM (8F)',
                                             'vanilla TSM (16F)'), (4, 8, 16))
FRAMES = [2, 4, 6, 8, 12, 16, 20]


def nearest(counts, frames):
    return min(counts, key=lambda c: (abs(c - frames), -c))


def with_separated(rows):
    """Add the separated-training row made of the single-count models."""
    label, members, counts = SEPARATED
    if not all(m in rows for m in members):
        return rows
    by_count = dict(zip(counts, members))
    rows = dict(rows)
    rows[label] = {
        t: rows[by_count[nearest(counts, t)]][t]
        for t in rows[members[0]]
    }
    return rows


def train(label, seed, work_root, options, epochs):
    config, counts = VARIANTS[label]
    work_dir = osp.join(work_root, f'seed{seed}', osp.basename(config)[:-3])
    checkpoint = last_checkpoint(work_dir)
    seconds = None
    if checkpoint is None:
        started = time.time()
        run([
            'tools/train.py',
            osp.join(DEMO, config), '--work-dir', work_dir, '--cfg-options',
            f'randomness.seed={seed}'
        ] + options + (epochs_options(epochs) if epochs else []))
        seconds = time.time() - started
        checkpoint = last_checkpoint(work_dir)
    return osp.join(DEMO, config), checkpoint, seconds


def sweep(seed, work_root, pairs, labels, counts, frames, options):
    out = osp.join(work_root, f'seed{seed}', 'sweep')
    run(['tools/frame_sweep.py'] + pairs + ['--frames'] +
        [str(t) for t in frames] + ['--out-dir', out, '--labels'] + labels +
        ['--trained-frames'] + counts + ['--cfg-options'] + options)
    return read_sweep(osp.join(out, 'frame_sweep.csv'))


def write(out, per_seed, frames, seconds, train_seconds):
    summary = summarise(per_seed, frames)
    seeds = sorted(per_seed)
    lines = [
        f'Seeds {seeds}: top-1 % on the 400 validation videos, mean ± '
        'standard deviation over seeds; study wall time '
        f'{seconds / 60:.0f} min.', '',
        '| variant | ' + ' | '.join(f'{t}F' for t in frames) + ' |',
        '|---|' + '---|' * len(frames)
    ]
    for label, row in summary.items():
        lines.append(f'| {label} | ' +
                     ' | '.join(f'{row[t][0]:.2f} ± {row[t][1]:.2f}'
                                for t in frames) + ' |')
    lines += ['', 'Per seed:', '']
    for seed in seeds:
        lines += [
            f'Seed {seed}:', '',
            '| variant | ' + ' | '.join(f'{t}F' for t in frames) + ' |',
            '|---|' + '---|' * len(frames)
        ]
        for label, row in per_seed[seed].items():
            lines.append(f'| {label} | ' + ' | '.join(f'{row[t]:.2f}'
                                                      for t in frames) + ' |')
        lines.append('')
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(out + '.json', 'w') as f:
        json.dump(
            dict(
                per_seed=per_seed,
                frames=frames,
                train_seconds=train_seconds,
                wall_seconds=seconds),
            f,
            indent=1)
    shown = {k: v for k, v in summary.items() if k not in SEPARATED[1][:2]}
    plot(out + '.png', frames, shown,
         f'demo set, seeds {seeds}: mean ± std over seeds')
    print('\n'.join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    add_study_arguments(parser, 'ablation_study')
    parser.add_argument(
        '--variants',
        nargs='+',
        choices=sorted(VARIANTS),
        default=list(VARIANTS),
        metavar='LABEL',
        help='a subset of VARIANTS (default: all)')
    args = parser.parse_args()
    quick = args.quick
    work_root = args.work_dir or osp.join(
        REPO, 'work_dirs', 'ablation_study' + ('_quick' if quick else ''))
    out = args.out or (osp.join(work_root, 'ablation_study')
                       if quick else osp.join(REPO, 'docs', 'ablation_study'))
    frames = [4, 16] if quick else FRAMES
    start = time.time()
    _, options = demo_data(quick, args.data_root)
    per_seed, train_seconds = {}, {}
    for seed in args.seeds:
        pairs, labels, counts = [], [], []
        for label in args.variants:
            config, checkpoint, seconds = train(label, seed, work_root,
                                                options, 1 if quick else None)
            train_seconds[f'{label} / seed {seed}'] = seconds
            pairs += [config, checkpoint]
            labels.append(label)
            counts.append(','.join(map(str, VARIANTS[label][1])))
        rows = sweep(seed, work_root, pairs, labels, counts, frames, options)
        per_seed[seed] = with_separated(rows)
    write(out, per_seed, frames, time.time() - start, train_seconds)


if __name__ == '__main__':
    main()
