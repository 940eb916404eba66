"""Shared fixtures: a tiny generated video set and tiny-run settings for the
demo configs, used by the end-to-end tests of tools/."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FFN_DEMO = osp.join(REPO, 'configs', 'demo', 'ffn_tsm_r18_demo.py')
TSM_DEMO = osp.join(REPO, 'configs', 'demo', 'tsm_r18_16f_demo.py')
TINY_CLASSES = ('move_right', 'move_left', 'grow', 'shrink')


@pytest.fixture(scope='session')
def tiny_video_root(tmp_path_factory):
    """16 train / 8 val generated videos of 4 classes, 20 frames, 32 px."""
    from mmffn.datasets.synthetic import generate_temporal_video_dataset
    root = str(tmp_path_factory.mktemp('tiny_videos'))
    generate_temporal_video_dataset(
        root, num_train=16, num_val=8, num_frames=20, size=32, seed=0,
        classes=TINY_CLASSES)
    return root


def tiny_cfg_options(root, max_epochs=2, batch_size=4, **extra):
    """``--cfg-options`` turning a demo config into a seconds-long run."""
    options = {
        'num_classes': len(TINY_CLASSES),
        'model.cls_head.num_classes': len(TINY_CLASSES),
        'train_cfg.max_epochs': max_epochs,
        'train_cfg.val_interval': 1,
        'param_scheduler.0.T_max': max_epochs,
        'param_scheduler.0.end': max_epochs,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.max_keep_ckpts': 5,
    }
    for split in ('train', 'val', 'test'):
        ann = 'train.txt' if split == 'train' else 'val.txt'
        options[f'{split}_dataloader.dataset.ann_file'] = osp.join(root, ann)
        options[f'{split}_dataloader.dataset.data_prefix.video'] = root
        options[f'{split}_dataloader.batch_size'] = batch_size
    options.update(extra)
    return [f'{k}={v}' for k, v in options.items()]


def run_tool(args, timeout=600, env=None, check=True):
    """Run a command of the repo with this interpreter; return the result."""
    full_env = dict(os.environ, PYTHON=sys.executable)
    full_env.update(env or {})
    proc = subprocess.run(args, cwd=REPO, env=full_env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(map(str, args))} exited {proc.returncode}\n'
            f'--- stdout (tail) ---\n{proc.stdout[-4000:]}\n'
            f'--- stderr (tail) ---\n{proc.stderr[-6000:]}')
    return proc
