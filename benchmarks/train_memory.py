"""Peak training memory: FFN (4 + 8 + 16 frames) vs TSM at 16 frames.

Every measurement runs in a fresh subprocess holding one model, so that
neither allocator caches nor the other model's tensors leak into it; the
subprocesses alternate FFN, TSM, TSM, FFN, ... for ``--repeats`` rounds.

Method, per subprocess:

* CPU: build model, SGD optimizer and batch, then read the resident set size
  (``VmRSS``), reset the kernel's high-water mark (``VmHWM``, by writing 5 to
  ``/proc/self/clear_refs``) and run ``--steps`` training steps; the result
  is ``VmHWM - VmRSS before``. It includes activations, gradients, the
  momentum buffers (created by the first step) and allocator overhead.
* CUDA: ``torch.cuda.max_memory_allocated() - memory_allocated()`` before the
  steps (the caching allocator's peak of live tensors).

FFN keeps the activations of 28 frames for backward against 16 for TSM, so
1.75x is expected; the goal is <= 1.85x.

Example::

    python benchmarks/train_memory.py --depth 18 --size 64 --batch 2
"""
import argparse
import gc
import json
import subprocess
import sys

import bench_models as bm
import bench_timing as bt
import torch

GOAL = 1.85


def _status_kib(field: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'{field} not in /proc/self/status')


def measure_one(args) -> int:
    """Peak extra bytes of ``--steps`` training steps of ``--model``."""
    if args.model == 'ffn':
        model = bm.ffn_recognizer(args.depth, args.num_classes, args.device)
        frames = sum(bm.FRAME_COUNTS)
    else:
        model = bm.tsm_recognizer(args.depth, args.num_classes,
                                  bm.FRAME_COUNTS[-1], args.device)
        frames = bm.FRAME_COUNTS[-1]
    model = bm.Speed(args).model(model.train())
    inputs = bm.random_clips(args.batch, frames, args.size, args.device)
    samples = bm.labelled_samples(args.batch, args.num_classes)
    step = bm.training_step_fn(model, inputs, samples, bm.Speed(args))
    gc.collect()
    if args.device.startswith('cuda'):
        torch.cuda.synchronize(args.device)
        torch.cuda.reset_peak_memory_stats(args.device)
        before = torch.cuda.memory_allocated(args.device)
    else:
        before = _status_kib('VmRSS') * 1024
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # reset VmHWM to the current RSS
    for _ in range(args.steps):
        step()
    if args.device.startswith('cuda'):
        torch.cuda.synchronize(args.device)
        return torch.cuda.max_memory_allocated(args.device) - before
    return _status_kib('VmHWM') * 1024 - before


def _child_command(args, model: str) -> list:
    command = [sys.executable, __file__, '--child', '--model', model]
    for name in ('depth', 'size', 'batch', 'num_classes', 'device', 'steps',
                 'threads', 'amp', 'compile_backend'):
        value = getattr(args, name)
        if value is not None:
            command += ['--' + name.replace('_', '-'), str(value)]
    for flag in ('channels_last', 'compile'):
        if getattr(args, flag):
            command.append('--' + flag.replace('_', '-'))
    return command


def main(argv=None) -> dict:
    parser = bt.common_parser(__doc__.split('\n')[0], repeats=3)
    parser.add_argument(
        '--steps',
        type=int,
        default=2,
        help='training steps per measurement (the first '
        'creates gradients and momentum buffers)')
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument(
        '--model', choices=('ffn', 'tsm'),
        help=argparse.SUPPRESS)  # with --child
    bt.add_speed_options(parser)
    args = parser.parse_args(argv)
    bt.check_common_args(args)
    bt.check_speed_options(args)
    if args.steps <= 0:
        raise SystemExit(f'--steps must be a positive int, got {args.steps}')
    if args.child:
        print(json.dumps(dict(peak_bytes=measure_one(args))))
        return {}
    if not args.device.startswith('cuda'):
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
        except OSError as error:
            raise SystemExit('CPU memory needs a writable '
                             f'/proc/self/clear_refs (Linux): {error}')

    peaks = dict(ffn=[], tsm=[])
    for round_index in range(args.repeats):
        order = ('ffn', 'tsm') if round_index % 2 == 0 else ('tsm', 'ffn')
        for model in order:
            proc = subprocess.run(
                _child_command(args, model), capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f'{model} measurement failed:\n'
                                   f'{proc.stderr[-3000:]}')
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            peaks[model].append(result['peak_bytes'])
    stats = {name: bt.summary(values) for name, values in peaks.items()}
    ratio = bt.paired_ratio(peaks['ffn'], peaks['tsm'])
    method = ('CUDA allocator peak' if args.device.startswith('cuda') else
              'RSS high-water mark minus RSS before the steps')

    def row(label, name, goal_ratio=None):
        s = stats[name]
        cells = [
            label, f'{s["median"] / 2**20:.0f}',
            f'{s["min"] / 2**20:.0f}-{s["max"] / 2**20:.0f}'
        ]
        if goal_ratio is None:
            cells += ['1 (reference)', '']
        else:
            cells += [
                f'{goal_ratio["median"]:.3f} [{goal_ratio["min"]:.3f}, '
                f'{goal_ratio["max"]:.3f}]', f'<= {GOAL:.2f}'
            ]
        return '| ' + ' | '.join(cells) + ' |'

    lines = [
        f'method: {method}, fresh subprocess per measurement, '
        f'{args.steps} steps each\n',
        '| model | median MiB | min-max MiB | ratio to TSM, median '
        '[min, max] of paired rounds | goal |', '|---|---|---|---|---|',
        row('TSM 16F', 'tsm'),
        row('FFN 4+8+16F', 'ffn', ratio)
    ]
    results = dict(
        peak_bytes=peaks, stats=stats, ratio=ratio, goal=GOAL, method=method)
    bt.report('Peak training memory', args, lines, results)
    return results


if __name__ == '__main__':
    main()
