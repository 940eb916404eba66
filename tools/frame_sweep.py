"""Evaluate checkpoints at many frame counts; write a table and a plot.

Usage:
    python tools/frame_sweep.py CONFIG CHECKPOINT [CONFIG CHECKPOINT ...] \
        --frames 2 4 6 8 12 16 20 --out-dir DIR [--labels A B] \
        [--trained-frames "16" "4,8,16"] [--cfg-options key=value ...]
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmffn.apis import (evaluate_at_frames, plot_frame_sweep,
                        write_frame_sweep_tables)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('pairs', nargs='+', metavar='CONFIG CHECKPOINT')
    parser.add_argument(
        '--frames', type=int, nargs='+', default=[2, 4, 6, 8, 12, 16, 20])
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--labels', nargs='+')
    parser.add_argument(
        '--trained-frames',
        nargs='+',
        help='per model, comma-separated trained counts')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config')
    args = parser.parse_args()
    if len(args.pairs) % 2:
        parser.error('give CONFIG CHECKPOINT pairs, got an odd number of '
                     f'paths: {args.pairs}')
    n = len(args.pairs) // 2
    for name in ('labels', 'trained_frames'):
        value = getattr(args, name)
        if value is not None and len(value) != n:
            parser.error(f'--{name.replace("_", "-")} needs {n} values, got '
                         f'{len(value)}')
    return args


def main():
    args = parse_args()
    pairs = list(zip(args.pairs[0::2], args.pairs[1::2]))
    labels = args.labels or [
        osp.splitext(osp.basename(c))[0] for c, _ in pairs
    ]
    results = {}
    for label, (config, checkpoint) in zip(labels, pairs):
        print(f'[frame_sweep] {label}: frames {args.frames}', flush=True)
        results[label] = evaluate_at_frames(
            config,
            checkpoint,
            args.frames,
            work_dir=osp.join(args.out_dir, 'runs', label),
            cfg_options=args.cfg_options)
    trained = None
    if args.trained_frames:
        trained = {
            label: [int(x) for x in spec.split(',') if x]
            for label, spec in zip(labels, args.trained_frames)
        }
    md, _ = write_frame_sweep_tables(results, args.out_dir)
    png = plot_frame_sweep(results, osp.join(args.out_dir, 'frame_sweep.png'),
                           trained)
    with open(md) as f:
        print(f.read())
    print(f'[frame_sweep] plot: {png}')


if __name__ == '__main__':
    main()
