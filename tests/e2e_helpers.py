"""Helpers for end-to-end tests of tools/: paths of the demo configs,
tiny-run ``--cfg-options`` and running a repo command.

(A module with a unique name: test files import it directly, which would be
ambiguous for ``conftest``, a name several test folders use.)"""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

# The top-1 accuracy MMAction2's AccMetric logs at the end of a test run.
TOP1 = re.compile(r'acc/top1: ([\d.]+)')
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FFN_DEMO = osp.join(REPO, 'configs', 'demo', 'ffn_tsm_r18_demo.py')
TSM_DEMO = osp.join(REPO, 'configs', 'demo', 'tsm_r18_16f_demo.py')
# The two fast fades: the biggest change per frame, so a few iterations on
# 16 videos already lower the loss (the slow/fast pairs need hundreds).
TINY_CLASSES = ('fade_in_fast', 'fade_out_fast')


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
        # Tests pin their optimizer: the demo's own choice may change.
        'optim_wrapper.optimizer.type': 'SGD',
        'optim_wrapper.optimizer.lr': 0.005,
        'optim_wrapper.optimizer.momentum': 0.9,
        'optim_wrapper.optimizer.weight_decay': 1e-4,
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
    # One OpenMP thread per process: on 2 shared cores, oversubscribed
    # OpenMP threads make each training step 10-20x slower.
    full_env = dict(os.environ, PYTHON=sys.executable)
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env.update(env or {})
    proc = subprocess.run(
        args,
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f'{" ".join(map(str, args))} exited {proc.returncode}\n'
            f'--- stdout (tail) ---\n{proc.stdout[-4000:]}\n'
            f'--- stderr (tail) ---\n{proc.stderr[-6000:]}')
    return proc


def repo_tool(name: str):
    """``tools/<name>.py`` imported as a module (to call its ``main``)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        f'mmffn_tool_{name}', osp.join(REPO, 'tools', f'{name}.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def free_port() -> int:
    """A TCP port free now, for a distributed run's master: tests running
    side by side (pytest -n) must not share one."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# --- Shipped configs shrunk to the tiny videos -------------------------------
# The recipes' 256 px resize and 224 px crops, scaled to the 32 px videos.
SIZES = {256: 40, 224: 32}


def first_videos(video_root, out_root, split, count=2):
    """An annotation file with the first ``count`` videos of ``split``."""
    with open(osp.join(video_root, f'{split}.txt')) as f:
        lines = f.readlines()[:count]
    os.makedirs(out_root, exist_ok=True)
    ann = osp.join(out_root, f'{split}.txt')
    with open(ann, 'w') as f:
        f.writelines(lines)
    return ann


def shrink(pipeline):
    for step in pipeline:
        for key in ('scale', 'input_size', 'crop_size'):
            value = step.get(key)
            if isinstance(value, int):
                step[key] = SIZES.get(value, value)
            elif isinstance(value, (tuple, list)):
                step[key] = tuple(SIZES.get(v, v) for v in value)
        # Several views are kept, fewer of them: 10 x 3 crops of 64 frames
        # would dominate the run.
        if step['type'] in ('SampleFrames', 'UniformSample') and step.get(
                'clip_len', 1) > 1 and step.get('num_clips', 1) > 2:
            step['num_clips'] = 2


def point_to_data(loader, ann, prefix, kind):
    dataset = loader.dataset
    dataset.ann_file = ann
    dataset.pop('delimiter', None)  # UniFormer's test list is a csv file
    dataset.data_prefix = dict(img=prefix) if kind == 'rawframes' else dict(
        video=prefix)
    loader.batch_size, loader.num_workers = 1, 0
    loader.persistent_workers = False
    shrink(dataset.pipeline)


def dumped(cfg, path):
    """Write ``cfg`` where tools/train.py and tools/test.py can read it."""
    cfg.dump(str(path))
    return str(path)
