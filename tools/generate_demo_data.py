"""Write the generated temporal video set (see mmffn.datasets.synthetic)."""
import argparse

from mmffn.datasets.synthetic import generate_temporal_video_dataset


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='data/ffn_demo')
    parser.add_argument('--num-train', type=int, default=480)
    parser.add_argument('--num-val', type=int, default=160)
    parser.add_argument('--num-frames', type=int, default=40)
    parser.add_argument('--size', type=int, default=32)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    manifest = generate_temporal_video_dataset(
        args.out, num_train=args.num_train, num_val=args.num_val,
        num_frames=args.num_frames, size=args.size, seed=args.seed)
    print(f'{args.out}: {len(manifest["classes"])} classes, '
          f'{args.num_train} train / {args.num_val} val videos')


if __name__ == '__main__':
    main()
