"""ONNX Runtime CPU latency vs PyTorch, FFN deployed as a stock TSM at T.

For every T of ``--frames`` (default 4 8 16) FFN (``RecognizerFFN`` +
``ResNetTSM_FFN``, built as in ``inference.py``) has its branch of T folded
into a stock ``Recognizer2D`` + ``ResNetTSM`` + ``TSMHead`` by
:func:`mmffn.apis.build_deployed`. That deployed model is saved (stock config
and checkpoint, in a temporary folder) and exported by
:func:`mmffn.apis.export_onnx`, whose graph is
``model(inputs, mode='tensor', stage='head')`` on inputs
``(N, T, 3, H, W)``. Two contenders then run the same clip batch
``(--batch, T, 3, --size, --size)``, interleaved as in ``inference.py``:

* ``PyTorch``: the deployed model in eval mode under ``no_grad``, through
  ``model(inputs, mode='tensor', stage='head')``, the call the graph was
  exported from;
* ``ONNX Runtime``: an ``InferenceSession`` on the ``CPUExecutionProvider``
  (``intra_op_num_threads`` = ``--threads`` when given, else onnxruntime's
  default), default graph optimisations.

One row per T: both medians with their IQR, the paired ratio ONNX Runtime /
PyTorch (median [IQR] over rounds), and the largest |ONNX - PyTorch| of the
class scores on the timed clip, which must stay within
``1e-4 * max(1, largest |PyTorch score|)`` (the script fails otherwise).
CPU only: ``--device`` must be ``cpu``. The ratios are measured, not
expected to be any particular value.

Example::

    python benchmarks/onnx_inference.py --depth 18 --size 64 --batch 1 \
        --repeats 30 --threads 1
"""
import contextlib
import io
import os.path as osp
import tempfile

import bench_models as bm
import bench_timing as bt
import torch
from mmengine.config import Config

from mmffn.apis import build_deployed, export_onnx, stock_model
from mmffn.apis.onnx_export import (INPUT_NAME, OUTPUT_NAME, _require_onnx,
                                    score_agreement)

ATOL = 1e-4

HEADER = ('| model | T | PyTorch median ms (IQR) | ONNX Runtime median ms '
          '(IQR) | ONNX Runtime / PyTorch, median [IQR] of paired rounds | '
          'max abs diff (allowed) |\n'
          '|---|---|---|---|---|---|')


def _cell(stats: dict) -> str:
    return (f'{bt.format_time(stats["median"])} '
            f'({bt.format_time(stats["q1"])}-{bt.format_time(stats["q3"])})')


def export_deployed(deployed: torch.nn.Module, model_cfg: dict, frames: int,
                    size: int, folder: str) -> str:
    """Write the deployed model's stock config and checkpoint to ``folder``
    and export them with :func:`mmffn.apis.export_onnx`; return the
    ``.onnx`` path."""
    cfg = Config(
        dict(model=stock_model(model_cfg, frames), default_scope='mmaction'))
    checkpoint = osp.join(folder, f'deployed_{frames}f.pth')
    torch.save(dict(state_dict=deployed.state_dict()), checkpoint)
    out_file = osp.join(folder, f'deployed_{frames}f.onnx')
    # check=False: the agreement is checked below on the timed clip. The
    # checkpoint loader print()s its path, which would break the markdown.
    with contextlib.redirect_stdout(io.StringIO()):
        export_onnx(cfg, checkpoint, out_file, frames, size=size, check=False)
    return out_file


def main(argv=None) -> dict:
    parser = bt.common_parser(__doc__.split('\n')[0], batch=1, repeats=20)
    bt.add_frames_argument(parser)
    args = parser.parse_args(argv)
    if args.device != 'cpu':
        raise SystemExit(
            f'--device must be cpu, got {args.device!r}: this benchmark times '
            "onnxruntime's CPUExecutionProvider against PyTorch on CPU")
    bt.check_common_args(args)
    bt.check_frames(args.frames)
    ort = _require_onnx()

    ffn = bm.ffn_recognizer(args.depth, args.num_classes, args.device).eval()
    ffn_cfg = bm.ffn_recognizer_config(args.depth, args.num_classes)
    options = ort.SessionOptions()
    if args.threads is not None:
        options.intra_op_num_threads = args.threads
    lines = [HEADER]
    results = {}
    with tempfile.TemporaryDirectory(prefix='mmffn_onnx_bench_') as folder:
        for frames in args.frames:
            deployed = build_deployed(ffn, ffn_cfg, frames).to(args.device)
            onnx_file = export_deployed(deployed, ffn_cfg, frames, args.size,
                                        folder)
            session = ort.InferenceSession(
                onnx_file, options, providers=['CPUExecutionProvider'])
            clips = bm.random_clips(args.batch, frames, args.size, args.device)
            feed = {INPUT_NAME: clips.numpy()}

            def run_torch():
                with torch.no_grad():
                    return deployed(clips, mode='tensor', stage='head')

            def run_onnx():
                return session.run([OUTPUT_NAME], feed)[0]

            expected = run_torch()
            actual = torch.from_numpy(run_onnx())
            if actual.shape != expected.shape:
                raise SystemExit(
                    f'{frames}F: ONNX Runtime gave class scores of shape '
                    f'{tuple(actual.shape)}, PyTorch {tuple(expected.shape)}')
            max_diff, allowed, scale = score_agreement(actual, expected, ATOL)
            if not max_diff <= allowed:  # also catches NaN
                raise SystemExit(
                    f'{frames}F: ONNX Runtime differs from PyTorch by '
                    f'{max_diff:.3g} (max abs diff of the class scores), more '
                    f'than the allowed {allowed:.3g} (atol={ATOL:g} x max(1, '
                    f'largest |score| {scale:.3g}))')

            times = bt.time_interleaved(
                dict(pytorch=run_torch, onnx=run_onnx), args.repeats,
                args.warmup)
            stats = {
                name: bt.summary(values)
                for name, values in times.items()
            }
            ratio = bt.paired_ratio(times['onnx'], times['pytorch'])
            lines.append('| ' + ' | '.join([
                'FFN deployed as TSM',
                str(frames),
                _cell(stats['pytorch']),
                _cell(stats['onnx']),
                f'{ratio["median"]:.3f} [{ratio["q1"]:.3f}, '
                f'{ratio["q3"]:.3f}]',
                f'{max_diff:.2e} ({allowed:.2e}): ok',
            ]) + ' |')
            results[frames] = dict(
                times=times,
                stats=stats,
                ratio=ratio,
                max_abs_diff=max_diff,
                allowed=allowed)
    bt.report(
        f'ONNX Runtime {ort.__version__} (CPU) vs PyTorch, deployed '
        'model (eval, no_grad)', args, lines, dict(per_frames=results))
    return results


if __name__ == '__main__':
    main()
