"""Issue 26, item 12: the FFN recognizer names, when it is built, the
counts a 3D recipe supports (I3D at 4 frames failed inside torch with
"Output size is too small") and a run that trains nothing on several
processes (torch's "DDP is not needed" named no option)."""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401
from mmffn.apis import frame_flexible_model

# MMAction2's I3D stem (i3d_r50: conv1 5x7x7 with temporal stride 2,
# pool1 and pool2 halving time), narrow and shallow.
TINY_I3D = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3d',
        depth=18,
        base_channels=8,
        pretrained=None,
        pretrained2d=False,
        conv1_kernel=(5, 7, 7),
        conv1_stride_t=2,
        pool1_stride_t=2,
        inflate=((1, 1), (1, 0), (1, 0), (0, 1)),
        zero_init_residual=False),
    cls_head=dict(
        type='I3DHead', num_classes=3, in_channels=64, average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor', format_shape='NCTHW'))


def build(cfg):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    return MODELS.build(copy.deepcopy(cfg))


def test_i3d_names_the_counts_its_recipe_supports():
    with pytest.raises(
            ValueError,
            match=r'this recipe supports counts >= 5, got frame '
            r'counts \(4, 8\) \(\[4\] too small\)'):
        build(frame_flexible_model(TINY_I3D, (4, 8)))
    model = build(frame_flexible_model(TINY_I3D, (5, 8))).eval()
    for count in (5, 8):  # the smallest supported count runs
        sample = ActionDataSample().set_gt_label(0)
        with torch.no_grad():
            out = model(
                torch.randn(1, 1, 3, count, 32, 32), [sample], mode='predict')
        assert out[0].pred_score.shape == (3, )


def test_no_trainable_parameter_on_several_processes_names_the_option(
        monkeypatch):
    from mmengine import dist
    cfg = frame_flexible_model(TINY_I3D, (5, 8))
    cfg.update(supervision='none', trainable=())
    build(cfg)  # one process: nothing to synchronise
    monkeypatch.setattr(dist, 'get_world_size', lambda *args: 2)
    with pytest.raises(
            ValueError,
            match=r'trainable=\(\) leaves no parameter to train.*'
            r'2 processes.*one process'):
        build(cfg)
