"""End to end through tools/: MMAction2's runner trains, tests, resumes and
runs distributed with mmffn's modules, on generated videos."""
import glob
import os.path as osp
import re
import sys

import pytest
import torch
from e2e_helpers import (FFN_DEMO, REPO, TINY_CLASSES, TOP1, free_port,
                         run_tool, tiny_cfg_options)

pytestmark = pytest.mark.slow

TRAIN_LINE = re.compile(r'Epoch\(train\)\s+\[(\d+)\]\[\d+/\d+\](.*)')
TERM = re.compile(r'\s(\w+): ([-\d.e]+)')
# The demo recipe's loss terms: the head's cross-entropy on every count and
# the distillation from 16 frames.
DEMO_LOSSES = {'loss_cls', 'loss_cls_4f', 'loss_cls_8f', 'loss_distill'}


def logged_steps(log):
    """(epoch, {name: value}) of every logged training iteration."""
    return [(int(epoch), {k: float(v)
                          for k, v in TERM.findall(rest)})
            for epoch, rest in TRAIN_LINE.findall(log)]


def check_loss_terms(terms):
    """The demo recipe's terms are all there and sum to the total."""
    losses = {k: v for k, v in terms.items() if k.startswith('loss_')}
    assert set(losses) == DEMO_LOSSES, terms
    assert terms['loss'] == pytest.approx(sum(losses.values()), abs=4e-4)
    assert losses['loss_distill'] >= 0


def train(config, work_dir, root, *extra, max_epochs=3, **options):
    return run_tool([
        sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
        *extra, '--cfg-options',
        *tiny_cfg_options(root, max_epochs=max_epochs, **options)
    ])


@pytest.fixture(scope='module')
def ffn_run(tiny_video_root, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('ffn_run'))
    proc = train(
        FFN_DEMO,
        work_dir,
        tiny_video_root,
        max_epochs=3,
        **{'optim_wrapper.optimizer.lr': 0.02})
    return work_dir, proc.stdout + proc.stderr


def test_train_logs_every_loss_term_and_learns(ffn_run):
    work_dir, log = ffn_run
    steps = logged_steps(log)
    assert steps, log[-3000:]
    for _, terms in steps:
        check_loss_terms(terms)
    first = [t['loss'] for e, t in steps if e == 1]
    last = [t['loss'] for e, t in steps if e == 3]
    assert sum(last) / len(last) < sum(first) / len(first)
    assert osp.isfile(osp.join(work_dir, 'epoch_3.pth'))


@pytest.mark.parametrize('blending', ['MixupBlending', 'CutmixBlending'])
def test_batch_blending_trains_with_soft_labels(tiny_video_root, tmp_path,
                                                blending):
    """MMAction2's MixUp/CutMix in the data preprocessor: the head gets soft
    labels (so it logs no accuracy) and FFN adds its KL term."""
    proc = train(
        FFN_DEMO,
        str(tmp_path),
        tiny_video_root,
        max_epochs=1,
        **{
            'model.data_preprocessor.blending.type': blending,
            'model.data_preprocessor.blending.num_classes': len(TINY_CLASSES),
            'model.data_preprocessor.blending.alpha': 0.2,
        })
    log = proc.stdout + proc.stderr
    steps = logged_steps(log)
    assert len(steps) == 4, log[-3000:]  # 16 videos, batch 4
    for _, terms in steps:
        check_loss_terms(terms)
        assert min(terms[k] for k in DEMO_LOSSES - {'loss_distill'}) > 0
    assert 'top1_acc' not in ''.join(line for line in log.splitlines()
                                     if 'Epoch(train)' in line)
    assert osp.isfile(osp.join(str(tmp_path), 'epoch_1.pth'))


@pytest.mark.parametrize('frames', [4, 6, 8, 16])
def test_test_tool_evaluates_any_frame_count(ffn_run, tiny_video_root, frames):
    work_dir, _ = ffn_run
    proc = run_tool([
        sys.executable, 'tools/test.py', FFN_DEMO,
        osp.join(work_dir, 'epoch_3.pth'), '--work-dir',
        osp.join(work_dir, f'test_{frames}'), '--cfg-options',
        *tiny_cfg_options(tiny_video_root),
        f'test_dataloader.dataset.pipeline.1.num_clips={frames}'
    ])
    accs = TOP1.findall(proc.stdout + proc.stderr)
    assert len(accs) == 1
    assert 0.0 <= float(accs[0]) <= 1.0


def test_dump_writes_predictions(ffn_run, tiny_video_root):
    work_dir, _ = ffn_run
    dump = osp.join(work_dir, 'preds.pkl')
    run_tool([
        sys.executable, 'tools/test.py', FFN_DEMO,
        osp.join(work_dir, 'epoch_3.pth'), '--dump', dump, '--work-dir',
        osp.join(work_dir, 'dump'), '--cfg-options',
        *tiny_cfg_options(tiny_video_root)
    ])
    from mmengine.fileio import load
    preds = load(dump)
    assert len(preds) == 8
    assert preds[0]['pred_score'].shape == (len(TINY_CLASSES), )


def test_resume_continues_from_the_last_checkpoint(ffn_run, tiny_video_root,
                                                   tmp_path):
    work_dir, _ = ffn_run
    import shutil
    resumed = str(tmp_path / 'resumed')
    shutil.copytree(work_dir, resumed)
    proc = train(FFN_DEMO, resumed, tiny_video_root, '--resume', max_epochs=4)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 3' in log
    assert not re.search(r'Epoch\(train\)\s+\[1\]', log)
    assert osp.isfile(osp.join(resumed, 'epoch_4.pth'))


def test_load_from_initialises_the_model(ffn_run, tiny_video_root, tmp_path):
    work_dir, _ = ffn_run
    ckpt = osp.join(work_dir, 'epoch_3.pth')
    proc = train(
        FFN_DEMO, str(tmp_path), tiny_video_root, max_epochs=1, load_from=ckpt)
    assert f'Load checkpoint from {ckpt}' in proc.stdout + proc.stderr


def test_checkpoint_loads_under_torch_weights_only_default(ffn_run):
    work_dir, _ = ffn_run
    ckpt = torch.load(osp.join(work_dir, 'epoch_3.pth'))  # weights_only
    keys = ckpt['state_dict']
    assert any('.branches.4.' in k for k in keys)
    assert any('.alteration.16.' in k for k in keys)
    assert ckpt['meta']['epoch'] == 3


def test_inference_api_with_ffn_config(ffn_run, tiny_video_root):
    from mmaction.apis import inference_recognizer, init_recognizer
    from mmengine.config import Config
    work_dir, _ = ffn_run
    cfg = Config.fromfile(FFN_DEMO)
    cfg.merge_from_dict(
        dict(model=dict(cls_head=dict(num_classes=len(TINY_CLASSES)))))
    model = init_recognizer(cfg, osp.join(work_dir, 'epoch_3.pth'), 'cpu')
    video = sorted(glob.glob(osp.join(tiny_video_root, 'videos', 'val_*')))[0]
    result = inference_recognizer(model, video)
    assert result.pred_score.shape == (len(TINY_CLASSES), )
    assert float(result.pred_score.sum()) == pytest.approx(1.0, abs=1e-4)


def test_dist_train_two_cpu_processes(tiny_video_root, tmp_path):
    work_dir = str(tmp_path)
    proc = run_tool([
        'bash', 'tools/dist_train.sh', FFN_DEMO, '2', '--work-dir', work_dir,
        '--cfg-options',
        *tiny_cfg_options(tiny_video_root, max_epochs=1, batch_size=2)
    ],
                    env=dict(PORT=str(free_port())))
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
    # 16 videos / (2 processes x 2 per batch) = 4 iterations per epoch.
    assert re.search(r'Epoch\(train\)\s+\[1\]\[4/4\]', log)


def test_dist_test_two_cpu_processes(ffn_run, tiny_video_root):
    work_dir, _ = ffn_run
    proc = run_tool([
        'bash', 'tools/dist_test.sh', FFN_DEMO,
        osp.join(work_dir, 'epoch_3.pth'), '2', '--work-dir',
        osp.join(work_dir, 'dist_test'), '--cfg-options',
        *tiny_cfg_options(tiny_video_root, batch_size=2)
    ],
                    env=dict(PORT=str(free_port())))
    accs = TOP1.findall(proc.stdout + proc.stderr)
    assert accs and 0.0 <= float(accs[-1]) <= 1.0


def test_slurm_train_passes_mmaction_arguments(tmp_path):
    """No Slurm here: a stand-in `srun` records what the script runs."""
    fake = tmp_path / 'srun'
    fake.write_text('#!/usr/bin/env bash\necho "SRUN $*"\n')
    fake.chmod(0o755)
    import os
    proc = run_tool([
        'bash', 'tools/slurm_train.sh', 'gpu_part', 'ffn_job', FFN_DEMO,
        '--work-dir', 'wd', '--amp'
    ],
                    env=dict(
                        PATH=f'{tmp_path}:{os.environ["PATH"]}',
                        GPUS='16',
                        GPUS_PER_NODE='8'))
    line = [x for x in proc.stdout.splitlines() if x.startswith('SRUN')][0]
    assert '-p gpu_part --job-name=ffn_job --gres=gpu:8 --ntasks=16' in line
    assert line.endswith(f'-u {REPO}/tools/train.py {FFN_DEMO} '
                         '--launcher=slurm --work-dir wd --amp')
