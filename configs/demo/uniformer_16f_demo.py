# Vanilla MMAction2 UniFormer (a tiny one: 1-1-2-1 blocks, widths 32-256)
# trained at 16 frames on the CPU demo set; data, 3D sampling, head type and
# schedule as the X3D pair (x3d_16f_demo.py).
_base_ = ['x3d_16f_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='UniFormer',
        depth=[1, 1, 2, 1],
        embed_dim=[32, 64, 128, 256],
        head_dim=32,
        img_size={{_base_.img_size}},
        pretrained2d=False),
    cls_head=dict(
        _delete_=True,
        type='I3DHead',
        num_classes={{_base_.num_classes}},
        in_channels=256,
        dropout_ratio=0.2,
        average_clips='prob'))
