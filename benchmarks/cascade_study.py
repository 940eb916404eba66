"""Cascade testing on the CPU demo set and on a harder generated set, over
seeds: the calibration curve, the picked thresholds and the saving.

    python benchmarks/cascade_study.py --seeds 0 1 2   # about 15 min a seed
    python benchmarks/cascade_study.py --quick          # smoke run

Two sets of 48-frame videos at 32 px (mmffn.datasets.synthetic):
``demo`` is the demo's four fades; ``flash`` adds the two flash classes, in
which a dim object flashes once or twice for 3 frames, so a 4-frame clip
(every 12th frame) sees a flash one time in four and often cannot tell the
classes apart, while 16 frames always can. Per set and training seed, the
demo's FFN (configs/demo/ffn_tsm_r18_demo.py, counts 4, 8, 16) is trained
with tools/train.py. Thresholds are calibrated on a separate labelled list
(the same generator with another seed) and applied, unchanged, to the
set's 400 validation videos, where every count's result is recorded once
(``thresholds=None``) so that any cascade replays exactly
(mmffn.apis.cascade_calibration; tests/e2e/test_cascade_tools.py checks
the replay against tools/test.py). Cascades over (4, 8, 16) and (4, 16)
are both reported. Writes docs/cascade_study.{md,json} and one plot per
set. A trained run is reused when its work folder holds a checkpoint.
"""
import argparse
import json
import os.path as osp
import time

import torch
from study_runs import (_DEMO_TOOL, DEMO, QUICK_DATA, REPO, epochs_options,
                        last_checkpoint, mean_std, run)

from mmffn.apis.cascade_calibration import (CascadeRecords, calibrate_cascade,
                                            cascade_point,
                                            collect_cascade_records,
                                            plot_calibration)
from mmffn.datasets.synthetic import (DEMO_CLASSES, FLASH_CLASSES,
                                      generate_temporal_video_dataset)

CONFIG = osp.join(DEMO, 'ffn_tsm_r18_demo.py')
SETS = {'demo': DEMO_CLASSES, 'flash': DEMO_CLASSES + FLASH_CLASSES}
CALIBRATION_SEED = 1000  # the calibration list's videos, not the test's
MAX_DROP = 0.5


def data(name, quick, data_root):
    """(test root, calibration root) of a set, generated once."""
    size = QUICK_DATA if quick else dict(num_train=1200, num_val=400)
    suffix = '_quick' if quick else ''
    root = osp.join(data_root, f'cascade_{name}{suffix}')
    generate_temporal_video_dataset(root, seed=0, classes=SETS[name], **size)
    calib = root + '_calibration'
    generate_temporal_video_dataset(
        calib,
        seed=CALIBRATION_SEED,
        classes=SETS[name],
        **dict(size, num_train=len(SETS[name])))
    return root, calib


def train(root, name, seed, work_root, quick):
    work_dir = osp.join(work_root, name, f'seed{seed}')
    checkpoint = last_checkpoint(work_dir)
    seconds = None
    if checkpoint is None:
        started = time.time()
        run([
            'tools/train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
            f'randomness.seed={seed}'
        ] + _DEMO_TOOL.data_options(root, len(SETS[name]), None) +
            epochs_options(1 if quick else None))
        seconds = time.time() - started
        checkpoint = last_checkpoint(work_dir)
    return checkpoint, seconds


def records(checkpoint, root, name, work_dir):
    """Every count's result on the set at ``root`` (its val.txt), cached
    next to the run as a torch file of plain tensors."""
    path = osp.join(work_dir, 'records.pth')
    if osp.isfile(path) and osp.getmtime(path) > osp.getmtime(checkpoint):
        saved = torch.load(path, weights_only=True)
        return CascadeRecords(
            counts=tuple(saved['counts'].tolist()),
            scores=saved['scores'],
            labels=saved['labels'],
            gflops=saved['gflops'],
            frames=saved['frames'],
            average_clips='prob')
    options = {
        'num_classes': len(SETS[name]),
        'model.cls_head.num_classes': len(SETS[name]),
        'val_dataloader.dataset.ann_file': f'{root}/val.txt',
        'val_dataloader.dataset.data_prefix.video': root,
        'test_dataloader.dataset.ann_file': f'{root}/val.txt',
        'test_dataloader.dataset.data_prefix.video': root,
    }
    result = collect_cascade_records(
        CONFIG, checkpoint, work_dir, split='test', cfg_options=options)
    assert result.average_clips == 'prob'
    torch.save(
        dict(
            counts=torch.tensor(result.counts),
            scores=result.scores,
            labels=result.labels,
            gflops=result.gflops,
            frames=result.frames), path)
    return result


def subset(recs, counts):
    """The records of some of the counts (a cascade that skips one)."""
    index = [recs.counts.index(c) for c in counts]
    return recs._replace(
        counts=tuple(counts),
        scores=recs.scores[:, index],
        gflops=recs.gflops[:, index],
        frames=recs.frames[:, index])


def one_seed(test, calib, counts):
    """Calibrate on ``calib``, apply to ``test``: the row of one seed."""
    test, calib = subset(test, counts), subset(calib, counts)
    picked = calibrate_cascade(calib, MAX_DROP)['picked']
    on_test = calibrate_cascade(test, MAX_DROP)
    fixed = on_test['fixed']
    point = cascade_point(test, picked['thresholds'])
    # The plot's star: the calibration list's pick, as it did on this list.
    on_test['picked'] = point
    top = fixed[-1]
    return dict(
        thresholds=picked['thresholds'],
        fixed={p['count']: p
               for p in fixed},
        cascade=point,
        drop_points=100 * (top['accuracy'] - point['accuracy']),
        gflops_share=point['mean_gflops'] / top['mean_gflops'],
        test_curve=on_test)


def table(rows_by_seed, counts):
    """One row per seed and the mean ± std over seeds."""
    top = counts[-1]
    lines = [
        '| seed | ' + ' | '.join(f'{c}F top-1' for c in counts) +
        ' | thresholds (picked on the calibration list) | cascade top-1 | '
        f'cascade - {top}F (points) | GFLOPs vs {top}F | mean frames | '
        'stopped at |', '|---' * (len(counts) + 7) + '|'
    ]
    rows = list(rows_by_seed.values())

    def spread(values, fmt):
        mean, std = mean_std(values)
        return f'{mean:{fmt}} ± {std:.2f}'

    for seed, row in rows_by_seed.items():
        c = row['cascade']
        stops = ', '.join(f'{k}F {100 * v:.0f}%'
                          for k, v in c['shares'].items())
        lines.append(
            f'| {seed} | ' +
            ' | '.join(f"{100 * row['fixed'][k]['accuracy']:.2f}"
                       for k in counts) +
            f" | {row['thresholds']} | {100 * c['accuracy']:.2f} | "
            f"{0.0 - row['drop_points']:+.2f} | "
            f"{100 * row['gflops_share']:.1f}% | {c['mean_frames']:.2f} | "
            f'{stops} |')
    lines.append('| mean ± std | ' + ' | '.join(
        spread([100 * r['fixed'][k]['accuracy'] for r in rows], '.2f')
        for k in counts) + ' | | ' +
                 spread([100 * r['cascade']['accuracy']
                         for r in rows], '.2f') + ' | ' +
                 spread([-r['drop_points'] for r in rows], '+.2f') + ' | ' +
                 spread([100 * r['gflops_share'] for r in rows], '.1f') +
                 '% | ' + spread([r['cascade']['mean_frames']
                                  for r in rows], '.2f') + ' | |')
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--sets', nargs='+', choices=SETS, default=list(SETS))
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--data-root', default=osp.join(REPO, 'data'))
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--out', default=None)
    args = parser.parse_args()
    suffix = '_quick' if args.quick else ''
    work_root = args.work_dir or osp.join(REPO, 'work_dirs',
                                          'cascade_study' + suffix)
    out = args.out or (osp.join(work_root, 'cascade_study') if args.quick else
                       osp.join(REPO, 'docs', 'cascade_study'))
    start = time.time()
    results, train_seconds = {}, {}
    for name in args.sets:
        root, calib = data(name, args.quick, args.data_root)
        results[name] = {}
        for seed in args.seeds:
            checkpoint, seconds = train(root, name, seed, work_root,
                                        args.quick)
            train_seconds[f'{name} / seed {seed}'] = seconds
            work_dir = osp.dirname(checkpoint)
            test = records(checkpoint, root, name,
                           osp.join(work_dir, 'records_test'))
            cal = records(checkpoint, calib, name,
                          osp.join(work_dir, 'records_calibration'))
            results[name][seed] = {
                str(counts): one_seed(test, cal, counts)
                for counts in ((4, 8, 16), (4, 16))
            }
            if seed == args.seeds[0]:
                plot_calibration(
                    results[name][seed]['(4, 8, 16)']['test_curve'],
                    f'{out}_{name}_seed{seed}.png')
    write(out, results, args, time.time() - start, train_seconds)


def write(out, results, args, seconds, train_seconds):
    plots = ', '.join(f'`cascade_study_{name}_seed{args.seeds[0]}.png`'
                      for name in results)
    lines = [
        '# Cascade testing on generated sets', '',
        'Written by `python benchmarks/cascade_study.py --seeds '
        f"{' '.join(map(str, args.seeds))}` (method: its docstring). The "
        'demo FFN (TSM-R18, counts 4, 8, 16, 32 px) per set and training '
        'seed; `demo`: the four fades; `flash`: the fades and two classes '
        'whose 3-frame flashes a 4-frame clip often misses. GFLOPs are '
        'backbone GFLOPs per video, every count run included, relative to '
        f'the highest count alone. Curves of the first seed on the validation '
        f'videos (the star: the thresholds picked on the calibration list): '
        f'{plots}.', '',
        f'Seeds {args.seeds}; {MAX_DROP}-point allowance; thresholds picked '
        'on the calibration list (another 400 videos), top-1 and GFLOPs on '
        f'the 400 validation videos. Study wall time {seconds / 60:.0f} min '
        f'(training runs: {train_seconds}).', ''
    ]
    for name, by_seed in results.items():
        for key in ('(4, 8, 16)', '(4, 16)'):
            counts = tuple(int(c) for c in key.strip('()').split(', '))
            lines += [
                f'### {name} set, cascade over {key}', '',
                table({s: r[key]
                       for s, r in by_seed.items()}, counts), ''
            ]
    with open(out + '.md', 'w') as f:
        f.write('\n'.join(lines))
    slim = {
        name: {
            seed: {
                key: {k: v
                      for k, v in row.items() if k != 'test_curve'}
                for key, row in rows.items()
            }
            for seed, rows in by_seed.items()
        }
        for name, by_seed in results.items()
    }
    with open(out + '.json', 'w') as f:
        json.dump(dict(seeds=args.seeds, results=slim), f, indent=1)
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
