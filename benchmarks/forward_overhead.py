"""Python overhead of FFN's branch forward over the stock TSM forward.

At a tiny resolution (default 8 px) the kernels cost next to nothing, so
what is left of a forward is its Python work: module calls, the frame-count
switch, the rate-specific layers' dispatch, input checks. For every T of
``--frames`` (default 4 8 16), FFN's ``model(x, mode='tensor',
stage='head')`` and the stock TSM's (MMAction2's Recognizer2D + ResNetTSM at
T, same depth and head) run interleaved on the same clip in eval mode under
``no_grad``; the report is the per-forward difference FFN - TSM in
microseconds (median of the paired rounds) and the ratio.

A second table times FFN's frame-count switch alone (``with
backbone.frame_count(T): pass``, which every test forward runs), hot (one
switch after another) and cold (each right after a stock TSM forward, as in
a real test loop: the weights have streamed through the caches, so the
modules' dicts the switch writes are no longer cached). Cold Python work
costs several times what a back-to-back microbenchmark or cProfile shows.

``--profile`` also prints cProfile's top functions (by own time) of
``--profile-calls`` FFN forwards at the highest T.

Example::

    python benchmarks/forward_overhead.py --repeats 300 --threads 1
"""
import cProfile
import io
import pstats
import time

import bench_models as bm
import bench_timing as bt
import torch


def _profile(model, clips, calls: int, top: int) -> str:
    """cProfile's top ``top`` functions by own time over ``calls``
    forwards."""
    profiler = cProfile.Profile()
    with torch.no_grad():
        profiler.enable()
        for _ in range(calls):
            model(clips, mode='tensor', stage='head')
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats('tottime').print_stats(top)
    return out.getvalue()


def _switch_times(ffn, tsm, clips, frames: int, repeats: int) -> dict:
    """Median microseconds of one frame-count switch (enter and exit),
    back to back (hot) and each after a stock forward (cold)."""
    backbone = ffn.backbone

    def switch() -> float:
        start = time.perf_counter()
        with backbone.frame_count(frames):
            pass
        return (time.perf_counter() - start) * 1e6

    hot = [switch() for _ in range(repeats)]
    cold = []
    with torch.no_grad():
        for _ in range(repeats):
            tsm(clips, mode='tensor', stage='head')
            cold.append(switch())
    return dict(hot=bt.summary(hot), cold=bt.summary(cold))


def main(argv=None) -> dict:
    parser = bt.common_parser(
        __doc__.split('\n')[0], batch=1, size=8, repeats=200)
    bt.add_frames_argument(parser)
    parser.add_argument(
        '--profile',
        action='store_true',
        help="print cProfile's top functions of FFN's forward")
    parser.add_argument(
        '--profile-calls',
        type=int,
        default=200,
        help='FFN forwards profiled with --profile')
    parser.add_argument(
        '--profile-top',
        type=int,
        default=25,
        help='functions listed with --profile')
    args = parser.parse_args(argv)
    bt.check_common_args(args, min_size=1)
    bt.check_frames(args.frames)
    if args.profile_calls <= 0 or args.profile_top <= 0:
        raise SystemExit('--profile-calls and --profile-top must be positive')

    ffn = bm.ffn_recognizer(args.depth, args.num_classes, args.device).eval()
    sync = bt.synchronizer(args.device)
    lines = [
        '| T | TSM median us | FFN median us | FFN - TSM us, median '
        '[IQR] of paired rounds | FFN / TSM, median [IQR] |',
        '|---|---|---|---|---|',
    ]
    results, switch_lines = {}, []
    for frames in args.frames:
        tsm = bm.tsm_recognizer(args.depth, args.num_classes, frames,
                                args.device).eval()
        clips = bm.random_clips(args.batch, frames, args.size, args.device)

        def run(model):
            with torch.no_grad():
                return model(clips, mode='tensor', stage='head')

        times = bt.time_interleaved(
            dict(ffn=lambda: run(ffn), tsm=lambda: run(tsm)), args.repeats,
            args.warmup, sync)
        stats = {name: bt.summary(values) for name, values in times.items()}
        diff = bt.summary([(a - b) * 1e6
                           for a, b in zip(times['ffn'], times['tsm'])])
        ratio = bt.paired_ratio(times['ffn'], times['tsm'])
        lines.append(
            f'| {frames} | {stats["tsm"]["median"] * 1e6:.0f} | '
            f'{stats["ffn"]["median"] * 1e6:.0f} | '
            f'{diff["median"]:.0f} [{diff["q1"]:.0f}, {diff["q3"]:.0f}] | '
            f'{ratio["median"]:.3f} [{ratio["q1"]:.3f}, {ratio["q3"]:.3f}] |')
        switch = _switch_times(ffn, tsm, clips, frames, args.repeats)
        switch_lines.append(
            f'| {frames} | {switch["hot"]["median"]:.1f} | '
            f'{switch["cold"]["median"]:.1f} '
            f'[{switch["cold"]["q1"]:.1f}, {switch["cold"]["q3"]:.1f}] |')
        results[frames] = dict(
            times=times,
            stats=stats,
            diff_us=diff,
            ratio=ratio,
            switch_us=switch)
    lines += [
        '', "FFN's frame-count switch, enter and exit:", '',
        '| T | hot median us | cold median us [IQR] |', '|---|---|---|'
    ] + switch_lines
    bt.report(f'Forward overhead at {args.size} px (eval, no_grad)', args,
              lines, dict(per_frames=results))
    if args.profile:
        frames = max(args.frames)
        clips = bm.random_clips(args.batch, frames, args.size, args.device)
        print(f'\ncProfile of {args.profile_calls} FFN forwards at {frames} '
              'frames, by own time:\n')
        print(_profile(ffn, clips, args.profile_calls, args.profile_top))
    return results


if __name__ == '__main__':
    main()
