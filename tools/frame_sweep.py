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
from mmffn.apis.frame_sweep import sweep_arguments


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
    args.pairs = list(zip(args.pairs[0::2], args.pairs[1::2]))
    try:  # every argument checked before the first evaluation
        args.labels, args.trained = sweep_arguments(args.pairs, args.labels,
                                                    args.trained_frames)
    except ValueError as error:
        parser.error(str(error))
    return args


def main():
    args = parse_args()
    results = {}
    for label, (config, checkpoint) in zip(args.labels, args.pairs):
        print(f'[frame_sweep] {label}: frames {args.frames}', flush=True)
        results[label] = evaluate_at_frames(
            config,
            checkpoint,
            args.frames,
            work_dir=osp.join(args.out_dir, 'runs', label),
            cfg_options=args.cfg_options)
    md, _ = write_frame_sweep_tables(results, args.out_dir)
    png = plot_frame_sweep(results, osp.join(args.out_dir, 'frame_sweep.png'),
                           args.trained)
    with open(md) as f:
        print(f.read())
    print(f'[frame_sweep] plot: {png}')


if __name__ == '__main__':
    main()
