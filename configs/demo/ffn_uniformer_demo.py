# FFN (4, 8, 16 frames) of the tiny UniFormer of uniformer_16f_demo.py on the
# CPU demo set; training as ffn_x3d_demo.py.
_base_ = ['ffn_x3d_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='UniFormer_FFN',
        num_segments_list={{_base_.frame_counts}},
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
