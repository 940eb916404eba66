"""Timing, statistics and reporting shared by the benchmark scripts.

Every benchmark compares FFN with MMAction2's TSM in one process on the same
inputs. Contenders run interleaved, one call each per repeat, so that a slow
patch of the machine (other jobs, frequency scaling) hits all of them alike;
the order alternates every repeat so that none of them always runs first.
Results are medians with their spread, plus the per-repeat (paired) ratio.
"""
import argparse
import json
import os
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch


def common_parser(description: str,
                  depth: int = 18,
                  size: int = 64,
                  batch: int = 2,
                  repeats: int = 10) -> argparse.ArgumentParser:
    """Argument parser with the options every benchmark takes.

    Defaults are small so that a script finishes in minutes on 2 CPU cores;
    the paper's setting is ``--depth 50 --size 224 --device cuda``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        '--depth',
        type=int,
        default=depth,
        choices=(18, 34, 50, 101, 152),
        help='ResNet depth')
    parser.add_argument(
        '--size',
        type=int,
        default=size,
        help='square frame resolution in pixels')
    parser.add_argument(
        '--batch', type=int, default=batch, help='videos per batch')
    parser.add_argument(
        '--repeats',
        type=int,
        default=repeats,
        help='timed repeats per contender (interleaved)')
    parser.add_argument(
        '--warmup',
        type=int,
        default=2,
        help='untimed calls per contender before timing')
    parser.add_argument(
        '--num-classes',
        type=int,
        default=174,
        help='classes of the TSM head (SSv2 has 174)')
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N')
    parser.add_argument(
        '--threads',
        type=int,
        default=None,
        help='torch intra-op threads (default: torch\'s)')
    parser.add_argument(
        '--json',
        default=None,
        help='also write the results to this JSON file')
    return parser


def add_frames_argument(parser: argparse.ArgumentParser) -> None:
    """``--frames T [T ...]`` (default 4 8 16): the counts a benchmark
    times; check them with :func:`check_frames`."""
    parser.add_argument(
        '--frames',
        type=int,
        nargs='+',
        default=[4, 8, 16],
        help='frame counts T to time')


AMP_DTYPES = dict(fp32=None, bf16=torch.bfloat16, fp16=torch.float16)


def add_speed_options(parser: argparse.ArgumentParser) -> None:
    """``--amp``, ``--channels-last``, ``--compile``: how people train and
    serve at scale, applied alike to FFN and the stock model (check them
    with :func:`check_speed_options`; apply with ``bench_models``)."""
    parser.add_argument(
        '--amp',
        choices=tuple(AMP_DTYPES),
        default='fp32',
        help='autocast dtype (fp16 trains with a gradient scaler, as '
        "MMEngine's AmpOptimWrapper; CUDA only)")
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='convert the models to the channels_last memory format')
    parser.add_argument(
        '--compile',
        action='store_true',
        help='torch.compile each model call (the training step\'s forward '
        'and loss, or the test forward) as MMEngine\'s compile=True does')
    parser.add_argument(
        '--compile-backend',
        default='inductor',
        help='torch.compile backend with --compile (default: inductor)')


def check_speed_options(args: argparse.Namespace) -> None:
    """Reject option values the device cannot run, naming the fix."""
    if args.amp == 'fp16' and not args.device.startswith('cuda'):
        raise SystemExit('--amp fp16 needs --device cuda (CPU autocast '
                         'trains in bf16: use --amp bf16)')
    if not args.compile and args.compile_backend != 'inductor':
        raise SystemExit(f'--compile-backend {args.compile_backend} is only '
                         'read with --compile; add --compile')


def check_frames(frames) -> None:
    bad = [t for t in frames if t <= 0]
    if bad:
        raise SystemExit(f'--frames must be positive ints, got {bad[0]}')


def check_common_args(args: argparse.Namespace, min_size: int = 32) -> None:
    """Reject values no benchmark can run with, naming what is expected.

    ``min_size``: the smallest ``--size`` accepted (32 keeps every ResNet
    stage larger than 1 px; an overhead benchmark may go lower).
    """
    for name in ('size', 'batch', 'repeats'):
        value = getattr(args, name)
        if value <= 0:
            raise SystemExit(f'--{name} must be a positive int, got {value}')
    if args.size < min_size:
        raise SystemExit(f'--size must be >= {min_size} (ResNet downsamples '
                         f'by 32), got {args.size}')
    if args.warmup < 0:
        raise SystemExit(f'--warmup must be >= 0, got {args.warmup}')
    if args.threads is not None:
        if args.threads <= 0:
            raise SystemExit(
                f'--threads must be a positive int, got {args.threads}')
        torch.set_num_threads(args.threads)
    if args.device.startswith('cuda') and not torch.cuda.is_available():
        raise SystemExit(f'--device {args.device} asked for, but torch has '
                         'no CUDA device here; use --device cpu')
    if not (args.device == 'cpu' or args.device.startswith('cuda')):
        raise SystemExit(f'--device must be cpu, cuda or cuda:N, got '
                         f'{args.device!r}')


def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits for queued kernels on ``device``."""
    if device.startswith('cuda'):
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_interleaved(contenders: Dict[str, Callable[[], object]],
                     repeats: int,
                     warmup: int = 2,
                     sync: Callable[[], None] = lambda: None
                     ) -> Dict[str, List[float]]:
    """Seconds per call of every contender, interleaved.

    Args:
        contenders (dict[str, callable]): Name -> function to time.
        repeats (int): Timed calls per contender.
        warmup (int): Untimed calls per contender first (allocator, caches,
            cuDNN autotuning).
        sync (callable): Called before reading the clock (CUDA sync).

    Returns:
        dict[str, list[float]]: Name -> ``repeats`` durations, where entry
        ``r`` of every contender comes from the same round.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    sync()
    times = {name: [] for name in names}
    for round_index in range(repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            sync()
            start = time.perf_counter()
            contenders[name]()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def summary(values: Sequence[float]) -> Dict[str, float]:
    """Median, quartiles, min and max of ``values``."""
    values = sorted(values)
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method='inclusive')
    else:
        q1 = q3 = values[0]
    return dict(
        median=statistics.median(values),
        q1=q1,
        q3=q3,
        min=values[0],
        max=values[-1],
        n=len(values))


def paired_ratio(numerator: Sequence[float],
                 denominator: Sequence[float]) -> Dict[str, float]:
    """Statistics of ``numerator[r] / denominator[r]`` over rounds ``r``.

    Pairing the two runs of one round cancels most of the machine's drift,
    so this spread is tighter than that of a ratio of two medians.
    """
    return summary([a / b for a, b in zip(numerator, denominator)])


def machine_info(device: str) -> Dict[str, str]:
    """What the numbers were measured on."""
    cpu = platform.processor() or 'unknown'
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    cpu = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    info = dict(
        nproc=str(len(os.sched_getaffinity(0))),
        cpu=cpu,
        torch=torch.__version__,
        torch_threads=str(torch.get_num_threads()),
        device=device)
    if device.startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(device)
    return info


def format_time(seconds: float) -> str:
    return f'{seconds * 1e3:.1f}'


def time_row(label: str,
             stats: Dict[str, float],
             ratio: Optional[Dict[str, float]] = None,
             goal: str = '') -> str:
    """One markdown table row: times in ms, ratio as median [q1, q3]."""
    cells = [
        label,
        format_time(stats['median']),
        f'{format_time(stats["q1"])}-{format_time(stats["q3"])}',
        f'{format_time(stats["min"])}-{format_time(stats["max"])}',
    ]
    if ratio is None:
        cells += ['1 (reference)', '']
    else:
        cells += [
            f'{ratio["median"]:.3f} [{ratio["q1"]:.3f}, {ratio["q3"]:.3f}]',
            goal
        ]
    return '| ' + ' | '.join(cells) + ' |'


TIME_HEADER = ('| model | median ms | IQR ms | min-max ms | '
               'ratio to TSM, median [IQR] of paired rounds | goal |\n'
               '|---|---|---|---|---|---|')


def report(title: str, args: argparse.Namespace, lines: List[str],
           results: dict) -> None:
    """Print a markdown section and write ``results`` to ``--json``."""
    info = machine_info(args.device)
    settings = ', '.join(f'{k}={v}' for k, v in sorted(vars(args).items())
                         if k != 'json')
    print(f'### {title}\n')
    print('machine: ' + ', '.join(f'{k}={v}' for k, v in info.items()))
    print(f'settings: {settings}\n')
    print('\n'.join(lines))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(
                dict(
                    title=title,
                    machine=info,
                    settings=vars(args),
                    results=results),
                f,
                indent=2)
