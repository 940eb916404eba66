"""Every shipped mixing config trains and tests at 4, 6 and 16 frames.

Through tools/train.py and tools/test.py, on the tiny generated videos, with
the inherited recipes shrunk to 32 px; TANet's recipe reads extracted frames,
which are written here from the same videos.
"""
import os
import os.path as osp
import re
import sys

import cv2
import decord
import pytest
from e2e_helpers import (REPO, TOP1, dumped, first_videos, free_port,
                         point_to_data, run_tool)
from mmaction.registry import DATASETS
from mmengine.config import Config
from mmengine.fileio import load
from mmengine.registry import init_default_scope

from mmffn.apis import fixed_frames_loader

pytestmark = pytest.mark.slow

MIXINS = {
    'ffn_from_tsm_r50_1x1x8_sthv2.py': 'videos',
    'ffn_from_tanet_r50_1x1x8_sthv1.py': 'rawframes',
    'ffn_from_tsn_r50_1x1x8_k400.py': 'videos',
    'ffn_from_trn_r50_1x1x8_sthv1.py': 'rawframes',
    'ffn_from_tsm_mobilenetv2_1x1x8_k400.py': 'videos',
    'ffn_from_slowfast_r50_4x16x1_k400.py': 'videos',
    'ffn_from_x3d_s_k400.py': 'videos',
    'ffn_from_videomae_vit_base_k400.py': 'videos',
    'ffn_from_csn_ircsn_r50_k400.py': 'videos',
    'ffn_from_uniformer_small_k400.py': 'videos',
    'ffn_from_swin_tiny_k400.py': 'videos',
    'ffn_from_mvit_small_k400.py': 'videos',
    'ffn_from_uniformerv2_base_k400.py': 'videos',
    'ffn_from_r2plus1d_r34_8x8x1_k400.py': 'videos',
}
# What a tiny run of a recipe cannot have, beyond the 32 px shrink: a
# download (UniFormerV2's CLIP weights; its position embedding is sized by
# input_resolution) and an optional package (pytorchvideo's RandAugment).
BACKBONE_OVERRIDES = {
    'ffn_from_uniformerv2_base_k400.py':
    dict(clip_pretrained=False, input_resolution=32),
}
WITHOUT_TRANSFORMS = ('PytorchVideoWrapper', )
# R(2+1)D's last BatchNorm sees one value per channel and clip at 32 px: a
# training batch needs two clips.
TRAIN_BATCH = {'ffn_from_r2plus1d_r34_8x8x1_k400.py': 2}


def _tiny_model(cfg, name):
    cfg.model.backbone.pretrained = None
    cfg.model.backbone.update(BACKBONE_OVERRIDES.get(name, {}))
    cfg.model.cls_head.num_classes = 2
    # Mixup/cutmix of a recipe (MViT) mix one-hot labels of its classes.
    blending = cfg.model.get('data_preprocessor', {}).get('blending')
    for augment in (blending or {}).get('augments', []):
        augment.num_classes = 2
    # AMP (Video Swin's recipes) needs a GPU; the CPU run steps in fp32.
    if cfg.get('optim_wrapper', {}).get('type') == 'AmpOptimWrapper':
        cfg.optim_wrapper.type = 'OptimWrapper'
        cfg.optim_wrapper.pop('loss_scale', None)


def _rawframes(video_root, out_root, split, dataset):
    """``<split>.txt`` of RawframeDataset: folder, frame count, label; the
    frames named as ``dataset`` (a RawframeDataset config) expects."""
    template = dataset.get('filename_tmpl', 'img_{:05}.jpg')
    start = dataset.get('start_index', 1)
    lines = []
    with open(first_videos(video_root, out_root, split)) as f:
        for line in f:
            video, label = line.split()
            folder = osp.splitext(osp.basename(video))[0]
            frames = decord.VideoReader(osp.join(video_root, video))
            os.makedirs(osp.join(out_root, folder), exist_ok=True)
            for index in range(len(frames)):
                rgb = frames[index].asnumpy()
                name = template.format(index + start)
                cv2.imwrite(osp.join(out_root, folder, name), rgb[:, :, ::-1])
            lines.append(f'{folder} {len(frames)} {label}\n')
    ann = osp.join(out_root, f'{split}.txt')
    with open(ann, 'w') as f:
        f.writelines(lines)
    return ann


@pytest.mark.parametrize('name', list(MIXINS))
def test_mixing_config_trains_and_tests_at_any_count(name, tiny_video_root,
                                                     tmp_path):
    """tools/train.py one iteration, then tools/test.py at 4, 6 and 16
    frames, each on the mixing config shrunk to the tiny videos."""
    kind = MIXINS[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mixins', name))
    if kind == 'rawframes':
        root = str(tmp_path / 'rawframes')
        train_ann = _rawframes(tiny_video_root, root, 'train',
                               cfg.train_dataloader.dataset)
        test_ann = _rawframes(tiny_video_root, root, 'val',
                              cfg.test_dataloader.dataset)
    else:
        root = tiny_video_root
        train_ann = first_videos(root, str(tmp_path / 'ann'), 'train')
        test_ann = first_videos(root, str(tmp_path / 'ann'), 'val')
    work_dir = str(tmp_path / 'work')
    _tiny_model(cfg, name)
    cfg.train_dataloader.dataset.pipeline = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] not in WITHOUT_TRANSFORMS
    ]
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = None
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, by_epoch=False)
    point_to_data(cfg.train_dataloader, train_ann, root, kind)
    cfg.train_dataloader.batch_size = TRAIN_BATCH.get(name, 1)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    sample = DATASETS.build(cfg.train_dataloader.dataset)[0]
    if isinstance(sample, list):  # RepeatAugDataset: the repeats of a video
        sample = sample[0]
    # 4 + 8 + 16 frames (SlowFast: slow frames x resample_rate)
    per_count = cfg.model.backbone.get('resample_rate', 1)
    if cfg.model.type == 'RecognizerFFN3D':
        assert sample['inputs'].shape[:3] == (1, 3, 28 * per_count)
    else:
        assert sample['inputs'].shape[:2] == (28, 3)
    run_tool([
        sys.executable, 'tools/train.py',
        dumped(cfg, tmp_path / 'train_config.py'), '--work-dir', work_dir
    ])
    checkpoint = osp.join(work_dir, 'iter_1.pth')
    assert osp.isfile(checkpoint)

    for frames in (4, 6, 16):
        test_cfg = Config.fromfile(osp.join(REPO, 'configs', 'mixins', name))
        _tiny_model(test_cfg, name)
        loader = fixed_frames_loader(test_cfg.test_dataloader, frames,
                                     per_count)
        loader.pop('_delete_')
        test_cfg.test_dataloader = loader
        point_to_data(test_cfg.test_dataloader, test_ann, root, kind)
        dump = str(tmp_path / f'preds_{frames}.pkl')
        proc = run_tool([
            sys.executable, 'tools/test.py',
            dumped(test_cfg, tmp_path / f'test_config_{frames}.py'),
            checkpoint, '--work-dir',
            str(tmp_path / f'test_{frames}'), '--dump', dump
        ])
        assert len(TOP1.findall(proc.stdout + proc.stderr)) == 1
        preds = load(dump)
        assert len(preds) == 2
        tested = {pred['num_clips'] * pred['clip_len'] for pred in preds}
        if cfg.model.type == 'RecognizerFFN3D':  # clip_len frames per view
            tested = {pred['clip_len'] for pred in preds}
        assert tested == {frames * per_count}
        assert preds[0]['pred_score'].shape == (2, )


def test_mixing_config_dist_train_two_cpu_processes(tiny_video_root, tmp_path):
    """tools/dist_train.sh with 2 CPU processes on a mixing config (the
    MobileNetV2-TSM one, the cheapest), its recipe shrunk by --cfg-options."""
    ann = first_videos(tiny_video_root, str(tmp_path / 'ann'), 'train', 4)
    work_dir = str(tmp_path / 'work')
    proc = run_tool([
        'bash', 'tools/dist_train.sh',
        osp.join('configs', 'mixins',
                 'ffn_from_tsm_mobilenetv2_1x1x8_k400.py'), '2', '--work-dir',
        work_dir, '--cfg-options', 'model.backbone.pretrained=None',
        'model.cls_head.num_classes=2', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=10', 'default_hooks.checkpoint.interval=1',
        'train_dataloader.batch_size=1', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        f'train_dataloader.dataset.ann_file={ann}',
        f'train_dataloader.dataset.data_prefix.video={tiny_video_root}',
        f'val_dataloader.dataset.ann_file={ann}',
        f'val_dataloader.dataset.data_prefix.video={tiny_video_root}',
        'train_dataloader.dataset.pipeline.3.scale=(-1,40)',
        'train_dataloader.dataset.pipeline.4.input_size=32',
        'train_dataloader.dataset.pipeline.5.scale=(32,32)'
    ],
                    env=dict(PORT=str(free_port())))
    log = proc.stdout + proc.stderr
    assert 'Distributed training: True' in log
    # 4 videos / (2 processes x 1 per batch) = 2 iterations per epoch.
    assert re.search(r'Epoch\(train\)\s+\[1\]\[2/2\]', log), log[-3000:]
    assert osp.isfile(osp.join(work_dir, 'epoch_1.pth'))
