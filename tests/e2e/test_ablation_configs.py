"""The paper's baselines and ablations (configs/ablations/, on top of
configs/ffn_tsm_r50_ssv2.py) each train through tools/train.py: one
iteration on the tiny videos, the recipe shrunk to 32 px."""
import os.path as osp
import re
import sys

import pytest
import torch
from e2e_helpers import REPO, dumped, first_videos, point_to_data, run_tool
from mmaction.registry import DATASETS
from mmengine.config import Config
from mmengine.registry import init_default_scope

pytestmark = pytest.mark.slow

# config: (frames per training sample, loss terms logged)
ABLATIONS = {
    'tsm_r50_ssv2_16f.py': (16, {'loss_cls'}),
    'tsm_r50_ssv2_8f.py': (8, {'loss_cls'}),
    'tsm_r50_ssv2_4f.py': (4, {'loss_cls'}),
    'ffn_tsm_r50_ssv2_no_specialised_norm.py':
    (28, {'loss_cls', 'loss_distill'}),
    'ffn_tsm_r50_ssv2_no_weight_alteration.py':
    (28, {'loss_cls', 'loss_distill'}),
    'ffn_tsm_r50_ssv2_no_distillation.py':
    (28, {'loss_cls', 'loss_cls_4f', 'loss_cls_8f'}),
    'ffn_tsm_r50_ssv2_4_8_12_16.py': (40, {'loss_cls', 'loss_distill'}),
}
LOSSES = re.compile(r'Iter\(train\).*?\s(loss\w*): ')


@pytest.mark.parametrize('name', list(ABLATIONS))
def test_ablation_config_trains(name, tiny_video_root, tmp_path):
    frames, losses = ABLATIONS[name]
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ablations', name))
    cfg.model.backbone.pretrained = None
    if cfg.model.backbone.type == 'ResNetTSM':  # no ImageNet file here
        cfg.model.backbone.pretrained2d = False
    cfg.model.cls_head.num_classes = 2
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = None
    cfg.log_processor = dict(by_epoch=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1, by_epoch=False)
    ann = first_videos(tiny_video_root, str(tmp_path / 'ann'), 'train')
    point_to_data(cfg.train_dataloader, ann, tiny_video_root, 'videos')
    init_default_scope('mmaction')
    sample = DATASETS.build(cfg.train_dataloader.dataset)[0]
    assert sample['inputs'].shape[:2] == (frames, 3)
    work_dir = str(tmp_path / 'work')
    proc = run_tool([
        sys.executable, 'tools/train.py',
        dumped(cfg, tmp_path / 'train_config.py'), '--work-dir', work_dir
    ])
    line = next(
        line for line in (proc.stdout + proc.stderr).splitlines()
        if 'Iter(train)' in line)
    assert set(re.findall(r'\s(loss_\w+): ', line)) == losses, line
    state = torch.load(
        osp.join(work_dir, 'iter_1.pth'), weights_only=False)['state_dict']
    has_copies = any('.branches.' in k for k in state)
    assert has_copies == (
        name.startswith('ffn') and 'no_specialised' not in name)
    assert any('.alteration.' in k for k in state) == (
        name.startswith('ffn') and 'no_weight_alteration' not in name)
