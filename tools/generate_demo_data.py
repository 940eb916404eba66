"""Write the generated temporal video set (see mmffn.datasets.synthetic)."""
import argparse

from mmffn.datasets.synthetic import CLASSES, generate_temporal_video_dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/ffn_demo')
    parser.add_argument('--num-train', type=int, default=1200)
    parser.add_argument('--num-val', type=int, default=400)
    parser.add_argument('--num-frames', type=int, default=48)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--classes', nargs='+', choices=CLASSES,
                        help='default: the four fades of the demo')
    parser.add_argument('--speed-ratio', type=float, default=3.0,
                        help='how many times faster the fast classes change')
    args = parser.parse_args()
    manifest = generate_temporal_video_dataset(
        args.out, num_train=args.num_train, num_val=args.num_val,
        num_frames=args.num_frames, size=args.size, seed=args.seed,
        classes=args.classes, speed_ratio=args.speed_ratio)
    print(f'{args.out}: {len(manifest["classes"])} classes, '
          f'{args.num_train} train / {args.num_val} val videos')


if __name__ == '__main__':
    main()
