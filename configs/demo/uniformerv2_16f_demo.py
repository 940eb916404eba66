# Vanilla MMAction2 UniFormerV2 (a tiny one from scratch: width 64, 4 local
# UniBlocks, global UniBlocks on the last 2, patch 16 at 32 px) trained at 16
# frames on the CPU demo set; data, 3D sampling and schedule as the X3D pair
# (x3d_16f_demo.py), the head of MMAction2's UniFormerV2 recipes. Unlike the
# recipes, the local UniBlocks keep their temporal MHRA (no_lmhra=False) and
# the global MLPs no dropout: without them it stayed at chance in this
# schedule (docs/backbones_demo.md).
_base_ = ['x3d_16f_demo.py']

num_frames = 16
model = dict(
    backbone=dict(
        _delete_=True,
        type='UniFormerV2',
        input_resolution={{_base_.img_size}},
        patch_size=16,
        width=64,
        layers=4,
        heads=4,
        t_size=num_frames,
        no_lmhra=False,
        double_lmhra=True,
        return_list=[2, 3],
        n_layers=2,
        n_dim=64,
        n_head=4,
        mlp_factor=4.,
        mlp_dropout=[0., 0.],
        clip_pretrained=False,
        pretrained=None),
    cls_head=dict(
        _delete_=True,
        type='UniFormerHead',
        num_classes={{_base_.num_classes}},
        in_channels=64,
        dropout_ratio=0.2,
        average_clips='prob'))
