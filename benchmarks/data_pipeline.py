"""Data pipeline time per video: FFN's multi-rate pipeline vs TSM's.

TSM: MMAction2's TSM training pipeline for Something-Something (DecordInit,
``SampleFrames(clip_len=1, num_clips=16)``, DecordDecode, Resize,
MultiScaleCrop, Resize, Flip, FormatShape, PackActionInputs).
FFN: the same pipeline converted by
:func:`mmffn.apis.multi_rate_pipeline`, as the FFN
configs do: ``MultiRateSampleFrames(num_clips_list=(4, 8, 16))`` (28
indices) and ``UniqueDecordDecode`` (each distinct frame decoded once), then
the same resize/crop/flip/format on all 28 frames.

The video is written once with OpenCV (``mmffn.datasets.synthetic``). Each
timed call runs the whole pipeline on it, file opening included, as one
data-loader worker does per sample. ``--batch`` is ignored.

Goal: FFN / TSM <= 1.50.

Example::

    python benchmarks/data_pipeline.py --size 224 --video-size 320
"""
import os.path as osp
import tempfile

import bench_models as bm
import bench_timing as bt
import numpy as np
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmffn.apis import multi_rate_pipeline
from mmffn.datasets.synthetic import generate_temporal_video_dataset

GOAL = 1.50


def tsm_train_pipeline(size: int) -> list:
    """MMAction2's TSM Something-Something training pipeline at ``size``."""
    short_side = round(size * 256 / 224)
    return [
        dict(type='DecordInit'),
        dict(
            type='SampleFrames',
            clip_len=1,
            frame_interval=1,
            num_clips=bm.FRAME_COUNTS[-1]),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, short_side)),
        dict(
            type='MultiScaleCrop',
            input_size=size,
            scales=(1, 0.875, 0.75, 0.66),
            random_crop=False,
            max_wh_scale_gap=1,
            num_fixed_crops=13),
        dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs'),
    ]


def main(argv=None) -> dict:
    parser = bt.common_parser(__doc__.split('\n')[0], repeats=50)
    parser.add_argument(
        '--video-size',
        type=int,
        default=256,
        help='side of the generated square video in pixels')
    parser.add_argument(
        '--video-frames',
        type=int,
        default=64,
        help='frames of the generated video')
    args = parser.parse_args(argv)
    bt.check_common_args(args)
    for name in ('video_size', 'video_frames'):
        if getattr(args, name) <= 0:
            raise SystemExit(f'--{name.replace("_", "-")} must be a positive '
                             f'int, got {getattr(args, name)}')

    init_default_scope('mmaction')
    stock = tsm_train_pipeline(args.size)
    pipelines = dict(
        ffn=Compose(multi_rate_pipeline(stock, bm.FRAME_COUNTS)),
        tsm=Compose(stock))
    with tempfile.TemporaryDirectory() as root:
        generate_temporal_video_dataset(
            root,
            num_train=1,
            num_val=1,
            num_frames=args.video_frames,
            size=args.video_size)
        video = osp.join(root, 'videos', 'train_00000.mp4')
        np.random.seed(0)  # the samplers and crops draw from numpy

        def run(name):
            out = pipelines[name](
                dict(filename=video, label=0, start_index=0, modality='RGB'))
            return out['inputs'].shape

        shapes = {name: tuple(run(name)) for name in pipelines}
        times = bt.time_interleaved(
            {name: (lambda n=name: run(n))
             for name in pipelines}, args.repeats, args.warmup)
    stats = {name: bt.summary(values) for name, values in times.items()}
    ratio = bt.paired_ratio(times['ffn'], times['tsm'])
    lines = [
        f'video: {args.video_frames} frames of {args.video_size}x'
        f'{args.video_size} (mp4v); output {shapes["tsm"]} for TSM, '
        f'{shapes["ffn"]} for FFN\n', bt.TIME_HEADER,
        bt.time_row('TSM: SampleFrames(16) + DecordDecode + aug',
                    stats['tsm']),
        bt.time_row(
            'FFN: MultiRateSampleFrames(4,8,16) + UniqueDecordDecode'
            ' + aug', stats['ffn'], ratio, f'<= {GOAL:.2f}')
    ]
    results = dict(
        times=times, stats=stats, ratio=ratio, goal=GOAL, shapes=shapes)
    bt.report('Data pipeline (one video, training mode)', args, lines, results)
    return results


if __name__ == '__main__':
    main()
