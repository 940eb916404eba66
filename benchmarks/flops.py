"""FLOPs and parameters: FFN at T vs TSM at T, with MMEngine's counter.

The same path as MMAction2's ``tools/analysis_tools/get_flops.py``: the
recognizer's ``forward`` is replaced by ``extract_feat`` and
``mmengine.analysis.get_model_complexity_info`` traces one clip of
``(1, T, 3, --size, --size)``. FFN is traced inside
``backbone.frame_count(T)``, so the branch of T and the real T are used.

The counter traces ``aten::_convolution`` of every conv, so the
weight-altered convs (an ``nn.Conv2d`` subclass whose forward scales either
the weight or the input by the adapter) are counted like plain convs. Like
every elementwise op (the temporal shift's copies, residual adds), the
adapter's scaling is not counted: MMEngine has no handle for ``aten::mul``.
Parameters count the whole model, so FFN's include every branch.

Goal: FFN FLOPs / TSM FLOPs <= 1.002 at every T.

Example::

    python benchmarks/flops.py --depth 50 --size 224
"""
import warnings

import bench_models as bm
import bench_timing as bt
import torch
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger

GOAL = 1.002


def count(model: torch.nn.Module, frames: int, size: int, device: str) -> dict:
    """FLOPs and parameters of ``model.extract_feat`` on one T-frame clip."""
    model.eval()
    model.forward = model.extract_feat  # as get_flops.py does
    clip = torch.randn(1, frames, 3, size, size, device=device)
    frame_count = getattr(model.backbone, 'frame_count', None)
    # mmengine warns about every op it cannot count, for both models alike.
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('ERROR')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            if frame_count is None:
                info = get_model_complexity_info(
                    model, inputs=(clip, ), show_table=False, show_arch=False)
            else:
                with frame_count(frames):
                    info = get_model_complexity_info(
                        model,
                        inputs=(clip, ),
                        show_table=False,
                        show_arch=False)
    finally:
        logger.setLevel(level)
    return dict(flops=info['flops'], params=info['params'])


def main(argv=None) -> dict:
    parser = bt.common_parser(__doc__.split('\n')[0], batch=1, repeats=1)
    parser.add_argument(
        '--frames',
        type=int,
        nargs='+',
        default=[4, 8, 16],
        help='frame counts T to count')
    args = parser.parse_args(argv)
    bt.check_common_args(args)
    bt.check_frames(args.frames)

    ffn = bm.ffn_recognizer(args.depth, args.num_classes, args.device)
    lines = [
        '| T | TSM GFLOPs | FFN GFLOPs | FLOPs ratio | goal | '
        'TSM params (M) | FFN params (M) | params ratio |',
        '|---|---|---|---|---|---|---|---|'
    ]
    results = {}
    for frames in args.frames:
        tsm = bm.tsm_recognizer(args.depth, args.num_classes, frames,
                                args.device)
        ffn_info = count(ffn, frames, args.size, args.device)
        tsm_info = count(tsm, frames, args.size, args.device)
        flops_ratio = ffn_info['flops'] / tsm_info['flops']
        params_ratio = ffn_info['params'] / tsm_info['params']
        lines.append(f'| {frames} | {tsm_info["flops"] / 1e9:.3f} | '
                     f'{ffn_info["flops"] / 1e9:.3f} | {flops_ratio:.4f} | '
                     f'<= {GOAL} | {tsm_info["params"] / 1e6:.3f} | '
                     f'{ffn_info["params"] / 1e6:.3f} | {params_ratio:.4f} |')
        results[frames] = dict(
            ffn=ffn_info,
            tsm=tsm_info,
            flops_ratio=flops_ratio,
            params_ratio=params_ratio)
    overhead = ffn.backbone.parameter_overhead()
    lines.append(f'\nFFN parameter overhead (backbone): '
                 f'{overhead["rate_specific_norm"] / 1e6:.3f}M rate-specific '
                 f'BN + {overhead["weight_alteration"] / 1e6:.3f}M adapters')
    bt.report('FLOPs and parameters (mmengine.analysis)', args, lines,
              dict(per_frames=results, goal=GOAL, parameter_overhead=overhead))
    return results


if __name__ == '__main__':
    main()
