"""Write the generated temporal video set (see mmffn.datasets.synthetic)."""
import argparse
import inspect

from mmffn.datasets.synthetic import (ALL_CLASSES,
                                      generate_temporal_video_dataset)

# The defaults are the generator's own, read from its signature, so that the
# command and the function (used by tools/demo.py) cannot drift apart.
DEFAULTS = {
    name: param.default
    for name, param in inspect.signature(
        generate_temporal_video_dataset).parameters.items()
}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/ffn_demo')
    for name, kind, help_text in (
        ('num_train', int, 'training videos'),
        ('num_val', int, 'validation videos'), ('num_frames', int,
                                                'frames per video'),
        ('size', int, 'frame side in pixels'), ('seed', int, 'random seed'),
        ('fast_span', float,
         'part of the brightness range a fast fade crosses'),
        ('speed_ratio', float,
         'how many times faster the fast classes change')):
        parser.add_argument(
            '--' + name.replace('_', '-'),
            type=kind,
            default=DEFAULTS[name],
            help=f'{help_text} (default: %(default)s)')
    parser.add_argument(
        '--classes',
        nargs='+',
        choices=ALL_CLASSES,
        help='default: the four fades of the demo')
    parser.add_argument(
        '--force',
        action='store_true',
        help='write into a non-empty --out that holds no data set of this '
        'generator (refused otherwise)')
    args = vars(parser.parse_args())
    out = args.pop('out')
    manifest = generate_temporal_video_dataset(out, **args)
    print(f'{out}: {len(manifest["classes"])} classes, '
          f'{args["num_train"]} train / {args["num_val"]} val videos')


if __name__ == '__main__':
    main()
