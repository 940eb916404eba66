"""The paper's baselines and ablations on the CPU demo set, over seeds.

    python benchmarks/ablation_study.py --seeds 0 1 2   # about 40 min a seed
    python benchmarks/ablation_study.py --quick            # smoke run
    python benchmarks/ablation_study.py --seeds 0 1 2 3 4 --frames 4 16 \
        --variants 'vanilla TSM (16F)' \
        'FFN, demo recipe (CE on every count + distillation)'  # the demo pair

Trains every variant of VARIANTS (configs/demo/ and configs/demo/ablations/:
the same data, schedule and optimizer as the demo pair) with tools/train.py
for each seed (``randomness.seed``; the video set is the demo's, seed 0),
sweeps them over 2-20 frames with tools/frame_sweep.py and writes the mean and
standard deviation over seeds per variant and frame count, the per-seed rows
and a plot to --out (docs/ablation_study.*). "Separated training" is three
vanilla TSMs (4, 8, 16 frames); at T frames it uses the one of the nearest
trained count (ties to the higher, as FFN's branches). A run whose work
folder already holds a checkpoint is not trained again, and a sweep of that
checkpoint over the same frames is not run again, so an interrupted or
extended study (more seeds, more variants) only does what is missing.
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
    # The paper's loss; its ablations below start from it.
    'FFN (4,8,16)': ('ablations/ffn_tsm_r18_demo_paper_loss.py', (4, 8, 16)),
    # tools/demo.py's FFN: the paper's loss plus the head's loss on 4 and 8.
    'FFN, demo recipe (CE on every count + distillation)':
    ('ffn_tsm_r18_demo.py', (4, 8, 16)),
    'FFN without specialised norm':
    ('ablations/ffn_tsm_r18_demo_no_specialised_norm.py', (4, 8, 16)),
    'FFN without weight alteration':
    ('ablations/ffn_tsm_r18_demo_no_weight_alteration.py', (4, 8, 16)),
    'FFN without distillation (CE on every count)':
    ('ablations/ffn_tsm_r18_demo_no_distillation.py', (4, 8, 16)),
    'FFN (4,8,12,16)': ('ablations/ffn_tsm_r18_demo_4_8_12_16.py', (4, 8, 12,
                                                                    16)),
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
    """(config, checkpoint, work dir, training seconds or None if reused)."""
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
        ] + options + epochs_options(epochs))
        seconds = time.time() - started
        checkpoint = last_checkpoint(work_dir)
    return osp.join(DEMO, config), checkpoint, work_dir, seconds


def swept(path, checkpoint, label, frames):
    """The sweep at ``path`` if it is of this checkpoint (written after it)
    and covers ``frames``, else None."""
    if not osp.isfile(path) or osp.getmtime(path) < osp.getmtime(checkpoint):
        return None
    row = read_sweep(path).get(label, {})
    return row if all(t in row for t in frames) else None


def sweep(label, config, checkpoint, work_dir, frames, options):
    """({frames: top-1 %}, whether it ran) of one trained variant, read from
    its work dir's sweep when that one is of the same checkpoint and
    frames."""
    out = osp.join(work_dir, 'sweep')
    path = osp.join(out, 'frame_sweep.csv')
    row = swept(path, checkpoint, label, frames)
    ran = row is None
    if ran:
        counts = ','.join(map(str, VARIANTS[label][1]))
        run(['tools/frame_sweep.py', config, checkpoint, '--frames'] +
            [str(t) for t in frames] +
            ['--out-dir', out, '--labels', label, '--trained-frames', counts] +
            ['--cfg-options'] + options)
        row = read_sweep(path)[label]
    return {t: row[t] for t in frames}, ran


def write(out, per_seed, frames, seconds, train_seconds, swept_now):
    summary = summarise(per_seed, frames)
    seeds = sorted(per_seed)
    lines = [
        f'Seeds {seeds}: top-1 % on the 400 validation videos, mean ± '
        'standard deviation over seeds; study wall time '
        f'{seconds / 60:.0f} min, in which '
        f'{sum(s is not None for s in train_seconds.values())} of '
        f'{len(train_seconds)} models were trained and {swept_now} swept '
        '(the others had been before).', '',
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
    parser.add_argument(
        '--frames',
        type=int,
        nargs='+',
        default=None,
        help=f'frame counts to sweep (default: {FRAMES}; quick: 4 16)')
    args = parser.parse_args()
    quick = args.quick
    work_root = args.work_dir or osp.join(
        REPO, 'work_dirs', 'ablation_study' + ('_quick' if quick else ''))
    out = args.out or (osp.join(work_root, 'ablation_study')
                       if quick else osp.join(REPO, 'docs', 'ablation_study'))
    frames = args.frames or ([4, 16] if quick else FRAMES)
    start = time.time()
    _, options = demo_data(quick, args.data_root)
    per_seed, train_seconds, swept_now = {}, {}, 0
    for seed in args.seeds:
        rows = {}
        for label in args.variants:
            config, checkpoint, work_dir, seconds = train(
                label, seed, work_root, options, 1 if quick else None)
            train_seconds[f'{label} / seed {seed}'] = seconds
            rows[label], ran = sweep(label, config, checkpoint, work_dir,
                                     frames, options)
            swept_now += ran
        per_seed[seed] = with_separated(rows)
    write(out, per_seed, frames, time.time() - start, train_seconds, swept_now)


if __name__ == '__main__':
    main()
