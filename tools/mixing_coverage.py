"""Which recognition configs of the installed MMAction2 mix with FFN.

Converts every config packaged with MMAction2 (``configs/recognition``) with
``frame_flexible_model`` and builds it; prints a table per family and the
reason for each config that does not mix.

Usage:
    python tools/mixing_coverage.py [--frame-counts 4 8 16]
        [--skip-random-init]
        [--out coverage.md] [--config-root DIR]
"""
import argparse
import logging

from mmengine.logging import MMLogger

from mmffn.apis import (coverage_table, mixing_coverage,
                        packaged_recognition_configs)


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        '--frame-counts', type=int, nargs='+', default=[4, 8, 16])
    parser.add_argument(
        '--skip-random-init',
        action='store_true',
        help='build without drawing random initial values (same modules and '
        'shapes, faster)')
    parser.add_argument(
        '--config-root',
        help='default: the installed '
        "MMAction2's configs/recognition")
    parser.add_argument('--out', help='also write the table to this file')
    return parser.parse_args()


def main():
    args = parse_args()
    # The builds log every backbone's settings; the table is the output.
    MMLogger.get_instance('mmengine').setLevel(logging.WARNING)
    rows = mixing_coverage(args.frame_counts,
                           packaged_recognition_configs(args.config_root),
                           args.skip_random_init)
    table = coverage_table(rows)
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
