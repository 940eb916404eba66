"""Deploy one frame count of an FFN checkpoint as a stock MMAction2 model.

    python tools/deploy.py CONFIG CHECKPOINT --frames 8 --out-dir deployed/

writes ``deployed/<config name>_8f.py`` (the family's stock recognizer,
backbone and head at 8 frames: Recognizer2D + ResNetTSM + TSMHead for TSM)
and ``deployed/<config name>_8f.pth``, which MMAction2's own ``tools/test.py``
runs without mmffn. ``--onnx`` also writes
``deployed/<config name>_8f.onnx``, the deployed model's class scores for
onnxruntime (input layout: :mod:`mmffn.apis.onnx_export`; needs
``pip install -e ".[deploy]"``). The logic is in
:mod:`mmffn.apis.deployment`.
"""
import argparse
import sys

from mmffn.apis import deploy

TOLERANCE = 1e-4  # deploy's: FFN vs deployed (relative), ONNX vs PyTorch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Fold one frame count of an FFN model into a stock '
        'MMAction2 config and checkpoint (optionally ONNX).')
    parser.add_argument('config', help='FFN config file')
    parser.add_argument('checkpoint', help='FFN checkpoint file')
    parser.add_argument(
        '--frames',
        type=int,
        required=True,
        help='frames per clip of the deployed model (trained or not: an '
        'untrained count uses the branch chosen by branch_policy)')
    parser.add_argument(
        '--out-dir',
        required=True,
        help='folder for the config and checkpoint')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip comparing both models (and the ONNX file with PyTorch) '
        'on a random clip')
    parser.add_argument(
        '--force',
        action='store_true',
        help='replace a deployment of the same config and frame count in '
        '--out-dir (refused otherwise)')
    parser.add_argument(
        '--onnx',
        action='store_true',
        help='also write <config name>_<frames>f.onnx, the deployed model '
        'for onnxruntime (checked against PyTorch unless --no-verify)')
    args = parser.parse_args(argv)
    if args.frames <= 0:
        parser.error(f'--frames must be a positive int, got {args.frames}')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    result = deploy(
        args.config,
        args.checkpoint,
        args.frames,
        args.out_dir,
        verify=not args.no_verify,
        tolerance=TOLERANCE,
        force=args.force,
        onnx=args.onnx)
    check = ('' if result.max_abs_diff is None else
             f' (max |FFN - deployed| on a random clip: '
             f'{result.max_abs_diff:.2g})')
    print(f'Deployed {args.frames} frames from FFN branch {result.branch}'
          f'{check}:\n  config:     {result.config}\n'
          f'  checkpoint: {result.checkpoint}')
    if result.onnx is not None:
        check = ('' if result.onnx_max_abs_diff is None else
                 f' (max |ONNX - PyTorch| on a random clip: '
                 f'{result.onnx_max_abs_diff:.2g}, within {TOLERANCE:g} x '
                 'max(1, largest |score|))')
        print(f'  onnx:       {result.onnx}{check}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
