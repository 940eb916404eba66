"""The CPU demo: Temporal Frequency Deviation, and FFN fixing it.

1. generate the temporal video set (once; see mmffn/datasets/synthetic.py),
2. train MMAction2's TSM at 16 frames (configs/demo/tsm_r18_16f_demo.py),
3. train FFN at 4, 8 and 16 frames (configs/demo/ffn_tsm_r18_demo.py),
   same backbone, schedule and data,
4. convert the trained TSM into FFN without labels
   (configs/demo/ffn_convert_tsm_r18_demo.py: its 16-frame model, frozen,
   teaches the 4- and 8-frame norms and adapters),
5. evaluate every model at 2..20 frames; print the table and the plot's path.
Other backbones (``--backbone``) skip step 4.
Training and testing go through tools/train.py and tools/frame_sweep.py
(MMAction2's runner). ``--quick`` is a 2-minute smoke run on a tiny set.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(REPO, 'configs', 'demo')
# The vanilla model trained at 16 frames and its FFN version, per backbone.
MODELS = {
    'resnet18': (
        ('TSM (16F)', 'tsm_r18_16f_demo', '16'),
        ('FFN (4,8,16F)', 'ffn_tsm_r18_demo', '4,8,16'),
    ),
    'mobilenetv2': (
        ('MobileNetV2-TSM (16F)', 'tsm_mobilenetv2_16f_demo', '16'),
        ('FFN (4,8,16F)', 'ffn_mobilenetv2_demo', '4,8,16'),
    ),
    'tanet': (
        ('TANet (16F)', 'tanet_r50_16f_demo', '16'),
        ('FFN (4,8,16F)', 'ffn_tanet_r50_demo', '4,8,16'),
    ),
    'x3d': (
        ('X3D (16F)', 'x3d_16f_demo', '16'),
        ('FFN (4,8,16F)', 'ffn_x3d_demo', '4,8,16'),
    ),
    'uniformer': (
        ('UniFormer (16F)', 'uniformer_16f_demo', '16'),
        ('FFN (4,8,16F)', 'ffn_uniformer_demo', '4,8,16'),
    ),
    'uniformerv2': (
        ('UniFormerV2 (16F)', 'uniformerv2_16f_demo', '16'),
        ('FFN (4,8,16F)', 'ffn_uniformerv2_demo', '4,8,16'),
    ),
    'slowfast': (
        ('SlowFast (16F)', 'slowfast_16f_demo', '16'),
        ('FFN (4,8,16F)', 'ffn_slowfast_demo', '4,8,16'),
    ),
}
# Label-free conversions of a vanilla model of the pair into FFN: (label,
# config, trained counts, the model it converts).
CONVERSIONS = {
    'resnet18': ('TSM (16F) converted, no labels', 'ffn_convert_tsm_r18_demo',
                 '4,8,16', 'tsm_r18_16f_demo'),
}
# The full run uses generate_temporal_video_dataset's defaults (1200 train
# / 400 val videos of 48 frames, 32 px, the four fades).
FULL = dict(
    data=dict(),
    frames=[2, 4, 6, 8, 12, 16, 20],
    epochs=None,
    conversion_steps=None)
# Backbones that cannot run every count of the sweep: TANet's temporal
# adaptive module needs at least 3 frames.
MIN_FRAMES = dict(tanet=3)
QUICK = dict(
    data=dict(num_train=16, num_val=8, num_frames=24),
    frames=[4, 8, 16],
    epochs=1,
    conversion_steps=4)


def log(message):
    print(f'[demo] {message}', flush=True)


def run(args):
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS', '2')
    subprocess.run([sys.executable] + args, cwd=REPO, env=env, check=True)


def data_options(root, num_classes, epochs):
    options = [
        f'num_classes={num_classes}',
        f'model.cls_head.num_classes={num_classes}'
    ]
    for split in ('train', 'val', 'test'):
        ann = 'train.txt' if split == 'train' else 'val.txt'
        options += [
            f'{split}_dataloader.dataset.ann_file={root}/{ann}',
            f'{split}_dataloader.dataset.data_prefix.video={root}'
        ]
    return options + epochs_options(epochs)


def epochs_options(epochs):
    """The demo's epoch-based schedule (cosine over ``max_epochs``)
    shortened to ``epochs``; none for None."""
    if epochs is None:
        return []
    return [
        f'train_cfg.max_epochs={epochs}', f'param_scheduler.0.T_max={epochs}',
        f'param_scheduler.0.end={epochs}'
    ]


def conversion_options(steps):
    """The conversion's schedule counts iterations; ``steps`` shortens it."""
    if steps is None:
        return []
    return [
        f'train_cfg.max_iters={steps}', f'train_cfg.val_interval={steps}',
        f'param_scheduler.0.T_max={steps}', f'param_scheduler.0.end={steps}',
        f'default_hooks.checkpoint.interval={steps}'
    ]


def last_checkpoint(work_dir):
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny data and 1 epoch: a smoke run')
    parser.add_argument(
        '--work-dir',
        default=None,
        help='default: work_dirs/demo (or demo_quick)')
    parser.add_argument(
        '--data-root',
        default=None,
        help='default: data/ffn_demo (or ffn_demo_quick)')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the generated videos and of training')
    parser.add_argument(
        '--backbone',
        choices=sorted(MODELS),
        default='resnet18',
        help='the pair of models trained and compared (default: resnet18, '
        'the README table)')
    args = parser.parse_args()
    if not 0 <= args.seed < 2**32:  # numpy's and MMEngine's seed range
        parser.error(f'--seed must be an int in [0, 2**32 - 1], got '
                     f'{args.seed}')
    setting = QUICK if args.quick else FULL
    suffix = '_quick' if args.quick else ''
    default_dir = 'demo' if args.backbone == 'resnet18' else (
        f'demo_{args.backbone}')
    work_dir = osp.abspath(
        args.work_dir or osp.join(REPO, 'work_dirs', default_dir + suffix))
    root = osp.abspath(
        args.data_root or osp.join(REPO, 'data', 'ffn_demo' + suffix))
    start = time.time()

    from mmffn.datasets.synthetic import generate_temporal_video_dataset
    steps = 4 + (args.backbone in CONVERSIONS)
    log(f'1/{steps} generating the temporal video set in {root} (kept if '
        'present)')
    manifest = generate_temporal_video_dataset(
        root, seed=args.seed, **setting['data'])
    options = data_options(root, len(manifest['classes']), setting['epochs'])

    conversion = CONVERSIONS.get(args.backbone)
    total = 4 + (conversion is not None)
    pairs, labels, trained, checkpoints = [], [], [], {}
    for step, (label, name, counts) in enumerate(
            MODELS[args.backbone], start=2):
        model_dir = osp.join(work_dir, name)
        config = osp.join(DEMO, name + '.py')
        log(f'{step}/{total} training {label} with tools/train.py -> '
            f'{model_dir}')
        run([
            'tools/train.py', config, '--work-dir', model_dir, '--cfg-options',
            f'randomness.seed={args.seed}'
        ] + options)
        checkpoints[name] = last_checkpoint(model_dir)
        pairs += [config, checkpoints[name]]
        labels.append(label)
        trained.append(counts)
    if conversion is not None:
        label, name, counts, source = conversion
        model_dir = osp.join(work_dir, name)
        config = osp.join(DEMO, name + '.py')
        log(f'4/{total} converting {source} without labels with '
            f'tools/train.py -> {model_dir}')
        started = time.time()
        # Epoch options do not apply to the conversion's iteration loop.
        data = [
            o for o in options if 'max_epochs' not in o and 'param_' not in o
        ]
        run([
            'tools/train.py', config, '--work-dir', model_dir, '--cfg-options',
            f'randomness.seed={args.seed}',
            f'model.stock_checkpoint={checkpoints[source]}'
        ] + data + conversion_options(setting['conversion_steps']))
        log(f'conversion took {time.time() - started:.0f} s')
        pairs += [config, last_checkpoint(model_dir)]
        labels.append(label)
        trained.append(counts)

    frames = [
        t for t in setting['frames'] if t >= MIN_FRAMES.get(args.backbone, 1)
    ]
    sweep_dir = osp.join(work_dir, 'frame_sweep')
    log(f'{total}/{total} evaluating every model at frames {frames} -> '
        f'{sweep_dir}')
    run(['tools/frame_sweep.py'] + pairs + ['--frames'] +
        [str(t) for t in frames] + ['--out-dir', sweep_dir, '--labels'] +
        labels + ['--trained-frames'] + trained + ['--cfg-options'] + options)
    log(f'done in {time.time() - start:.0f} s; table: '
        f'{sweep_dir}/frame_sweep.md, plot: {sweep_dir}/frame_sweep.png')


if __name__ == '__main__':
    main()
