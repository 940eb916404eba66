"""Load checkpoints through every loading entry point, in one process.

    python tests/e2e/checkpoint_entry_points.py SPEC.json RESULTS.json

SPEC: ``{"config": ..., "cfg_options": [...], "work_dir": ...,
"cases": [{"id": ..., "entry": ..., "checkpoint": ..., "marker": ...}]}``.
For each case RESULTS holds the exception the entry point raised (type and
message), whether the marker file exists afterwards and whether the process
state of ``checkpoint_payloads.process_state`` is still what it was before
the first case. Used by ``test_reliability_checkpoints.py``; one process
for all cases, since importing the stack takes most of the time.
"""
import json
import os
import os.path as osp
import runpy
import sys
import traceback

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# This checkout's mmffn (as `python tools/x.py` run from the repo gets it
# through the install), then the test helpers.
sys.path[:0] = [REPO, osp.join(REPO, 'tests')]


def run_script(script, argv):
    """``python SCRIPT ARGV...``, in this process."""
    saved = sys.argv
    sys.argv = [script] + list(argv)
    try:
        runpy.run_path(osp.join(REPO, script), run_name='__main__')
    finally:
        sys.argv = saved


def run_entry(entry, checkpoint, config, options, work_dir):
    if entry == 'train_load_from':
        run_script('tools/train.py', [
            config, '--work-dir', work_dir, '--cfg-options',
            f'load_from={checkpoint}', *options
        ])
    elif entry == 'train_resume':
        run_script('tools/train.py', [
            config, '--work-dir', work_dir, '--resume', checkpoint,
            '--cfg-options', *options
        ])
    elif entry == 'test':
        run_script('tools/test.py', [
            config, checkpoint, '--work-dir', work_dir, '--cfg-options',
            *options
        ])
    elif entry == 'deploy':
        run_script(
            'tools/deploy.py',
            [config, checkpoint, '--frames', '8', '--out-dir', work_dir])
    elif entry == 'frame_sweep':
        run_script('tools/frame_sweep.py', [
            config, checkpoint, '--frames', '8', '--out-dir', work_dir,
            '--cfg-options', *options
        ])
    elif entry == 'pretrained':
        from mmffn.models.backbones.resnet_tsm_ffn import ResNetTSM_FFN
        ResNetTSM_FFN(
            depth=18, num_segments_list=(4, 8, 16),
            pretrained=checkpoint).init_weights()
    elif entry == 'init_recognizer':
        from mmaction.apis import init_recognizer
        init_recognizer(config, checkpoint, device='cpu')
    else:
        raise ValueError(f'unknown entry point {entry!r}')


def main(spec_path, results_path):
    import torch
    from checkpoint_payloads import process_state

    import mmffn  # noqa: F401
    torch.set_num_threads(1)
    with open(spec_path) as f:
        spec = json.load(f)
    before = process_state()
    results = {}
    for case in spec['cases']:
        work_dir = osp.join(spec['work_dir'], case['id'])
        error = None
        try:
            run_entry(case['entry'], case['checkpoint'], spec['config'],
                      spec['cfg_options'], work_dir)
        except BaseException as exc:  # SystemExit too: argparse, tools
            if isinstance(exc, KeyboardInterrupt):
                raise
            error = exc
        marker = case.get('marker')
        results[case['id']] = dict(
            error_type=None if error is None else type(error).__name__,
            message=None if error is None else str(error),
            traceback=None if error is None else ''.join(
                traceback.format_exception(error))[-3000:],
            marker_exists=bool(marker) and osp.exists(marker),
            state_unchanged=process_state() == before)
        print(case['id'], results[case['id']]['error_type'], flush=True)
    with open(results_path, 'w') as f:
        json.dump(results, f, indent=1)


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main(*sys.argv[1:])
