"""Inference time at T frames: FFN's branch vs TSM vs FFN deployed as TSM.

For every T of ``--frames`` (default 4 8 16) three models run the same clip
batch ``(--batch, T, 3, --size, --size)`` in eval mode under ``no_grad``,
through ``model(inputs, mode='tensor', stage='head')``:

* ``TSM``: MMAction2's Recognizer2D + ResNetTSM(num_segments=T) + TSMHead;
* ``FFN``: RecognizerFFN, which selects the branch of T (rate-specific BN,
  weight-altered convs) and shifts with T;
* ``FFN deployed``: the branch of T folded into the stock TSM by
  :mod:`mmffn.apis.deployment` (same architecture as ``TSM``: the ratio
  should be 1 within noise).

Goal: FFN / TSM <= 1.03 at every T.

``--amp``, ``--channels-last`` and ``--compile`` (``torch.compile`` of each
model) apply to every contender alike.

Example::

    python benchmarks/inference.py --depth 50 --size 112 --batch 1
"""
import bench_models as bm
import bench_timing as bt
import torch

from mmffn.apis import build_deployed

GOAL = 1.03


def main(argv=None) -> dict:
    parser = bt.common_parser(__doc__.split('\n')[0], batch=1, repeats=20)
    bt.add_frames_argument(parser)
    bt.add_speed_options(parser)
    args = parser.parse_args(argv)
    bt.check_common_args(args)
    bt.check_frames(args.frames)
    bt.check_speed_options(args)
    speed = bm.Speed(args)

    ffn = speed.model(
        bm.ffn_recognizer(args.depth, args.num_classes, args.device).eval())
    ffn_cfg = bm.ffn_recognizer_config(args.depth, args.num_classes)
    sync = bt.synchronizer(args.device)
    lines = [bt.TIME_HEADER]
    results = {}
    for frames in args.frames:
        tsm = speed.model(
            bm.tsm_recognizer(args.depth, args.num_classes, frames,
                              args.device).eval())
        deployed = speed.model(
            build_deployed(ffn, ffn_cfg, frames).to(args.device))
        clips = bm.random_clips(args.batch, frames, args.size, args.device)
        models = {
            name: speed.compiled(model)
            for name, model in dict(ffn=ffn, tsm=tsm,
                                    deployed=deployed).items()
        }

        def run(model):
            with torch.no_grad(), speed.autocast():
                return model(clips, mode='tensor', stage='head')

        times = bt.time_interleaved(
            {name: (lambda m=model: run(m))
             for name, model in models.items()}, args.repeats, args.warmup,
            sync)
        stats = {name: bt.summary(values) for name, values in times.items()}
        ratios = {
            name: bt.paired_ratio(times[name], times['tsm'])
            for name in ('ffn', 'deployed')
        }
        branch = ffn.backbone.branch_for(frames)
        lines += [
            bt.time_row(f'TSM {frames}F', stats['tsm']),
            bt.time_row(f'FFN {frames}F (branch {branch})', stats['ffn'],
                        ratios['ffn'], f'<= {GOAL:.2f}'),
            bt.time_row(f'FFN {frames}F deployed as TSM', stats['deployed'],
                        ratios['deployed'], '1.00 within noise'),
        ]
        results[frames] = dict(times=times, stats=stats, ratios=ratios)
    bt.report('Inference (eval, no_grad)', args, lines,
              dict(per_frames=results, goal=GOAL))
    return results


if __name__ == '__main__':
    main()
