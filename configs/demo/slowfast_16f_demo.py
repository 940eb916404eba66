# Vanilla MMAction2 SlowFast (a small R18 layout: slow 16, fast 2 base
# channels) trained at 16 slow frames on the CPU demo set; the slow pathway
# reads every 2nd frame of a 32-frame clip and the fast one every frame
# (resample_rate=2, speed_ratio=2: the demo videos have 48 frames). Data, 3D
# sampling and schedule as the X3D pair (x3d_16f_demo.py).
_base_ = ['x3d_16f_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='ResNet3dSlowFast',
        resample_rate=2,
        speed_ratio=2,
        channel_ratio=8,
        slow_pathway=dict(
            type='resnet3d',
            depth=18,
            base_channels=16,
            pretrained=None,
            lateral=True,
            conv1_kernel=(1, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1,
            inflate=(0, 0, 1, 1)),
        fast_pathway=dict(
            type='resnet3d',
            depth=18,
            base_channels=2,
            pretrained=None,
            lateral=False,
            conv1_kernel=(5, 7, 7),
            conv1_stride_t=1,
            pool1_stride_t=1)),
    cls_head=dict(
        _delete_=True,
        type='SlowFastHead',
        num_classes={{_base_.num_classes}},
        in_channels=128 + 16,
        dropout_ratio=0.2,
        average_clips='prob'))
# Clips of 16 slow frames are 32 frames long (the frame sweep scales test
# clips by resample_rate itself).
train_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=32),
        dict(type='DecordDecode'),
        dict(
            type='Resize',
            scale=({{_base_.img_size}}, {{_base_.img_size}}),
            keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs', meta_keys=('img_shape', 'clip_lens'))
    ]))
val_dataloader = dict(
    dataset=dict(pipeline=[
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=32, test_mode=True),
        dict(type='DecordDecode'),
        dict(
            type='Resize',
            scale=({{_base_.img_size}}, {{_base_.img_size}}),
            keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(
            type='PackActionInputs',
            meta_keys=('img_shape', 'num_clips', 'clip_len', 'clip_lens'))
    ]))
test_dataloader = val_dataloader
