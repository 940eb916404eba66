"""Pick cascade thresholds on a labelled list: accuracy against mean
backbone GFLOPs per video for a threshold grid, next to each fixed count.

One test run with every count on every video, then the sweep from its
scores (mmffn.apis.cascade_calibration). The picked thresholds are the
cheapest within --max-drop accuracy points of the highest count.

Usage:
    python tools/calibrate_cascade.py CONFIG CHECKPOINT --out-dir DIR \
        [--counts 4 8 16] [--max-drop 0.5] [--split val|test] \
        [--grid 0.5 0.6 0.7 0.8 0.9 0.95 0.99] [--cfg-options key=value ...]
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmffn.apis import (calibrate_cascade, collect_cascade_records,
                        plot_calibration, write_calibration)
from mmffn.apis.cascade_calibration import DEFAULT_GRID


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument(
        '--counts', type=int, nargs='+', help='default: the trained counts')
    parser.add_argument(
        '--max-drop',
        type=float,
        default=0.5,
        help='accuracy points below the highest count allowed (default 0.5)')
    parser.add_argument(
        '--split',
        choices=('val', 'test'),
        default='val',
        help='the list to calibrate on (default: val, read with the test '
        'pipeline and its views)')
    parser.add_argument(
        '--grid',
        type=float,
        nargs='+',
        default=list(DEFAULT_GRID),
        help='thresholds tried per count (default 0.05, 0.10, ..., 1.00)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    if args.max_drop < 0:
        parser.error(f'--max-drop must be >= 0, got {args.max_drop}')
    bad = [t for t in args.grid if not 0 < t <= 1]
    if bad:
        parser.error(f'--grid thresholds must lie in (0, 1], got {bad}')
    if not osp.isfile(args.config):
        parser.error(f'config not found: {args.config}')
    return args


def main():
    args = parse_args()
    records = collect_cascade_records(
        args.config,
        args.checkpoint,
        osp.join(args.out_dir, 'run'),
        counts=args.counts,
        split=args.split,
        cfg_options=args.cfg_options)
    result = calibrate_cascade(records, args.max_drop, args.grid)
    json_path, md_path = write_calibration(result, args.out_dir)
    png = plot_calibration(result,
                           osp.join(args.out_dir, 'cascade_calibration.png'))
    with open(md_path) as f:
        print(f.read())
    picked = result['picked']
    if picked is None:
        print(f'[calibrate_cascade] no thresholds within {args.max_drop} '
              'points of the highest count')
    elif not result['saves']:
        print(f'[calibrate_cascade] no cascade within {args.max_drop} points '
              f'costs less than {records.counts[-1]} frames alone '
              f"({100 * (1 - result['gflops_saving']):.1f}% of its GFLOPs at "
              f"best): test at {records.counts[-1]} frames")
    else:
        print(f"[calibrate_cascade] picked {picked['thresholds']}: top-1 "
              f"{100 * picked['accuracy']:.2f}% at "
              f"{100 * (1 - result['gflops_saving']):.1f}% of the "
              f"{records.counts[-1]}-frame GFLOPs; in the config:\n"
              f"    {result['config']}")
    print(f'[calibrate_cascade] {json_path}, {png}')


if __name__ == '__main__':
    main()
