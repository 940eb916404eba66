# FFN, TSM-R50, Something-Something V2: the paper's recipe (FFN, CVPR 2023).
# 2 GPUs x 16 videos = batch 32 at lr 0.01; `--auto-scale-lr` rescales it.
_base_ = [
    '_base_/models/ffn_tsm_r50.py', 'mmaction::_base_/default_runtime.py'
]

frame_counts = (4, 8, 16)  # the trained sub-networks; any sorted list
model = dict(
    backbone=dict(
        num_segments_list=frame_counts, num_segments=frame_counts[-1]),
    cls_head=dict(
        num_classes=174, num_segments=frame_counts[-1], dropout_ratio=0.5))

dataset_type = 'VideoDataset'
data_root = 'data/sthv2/videos'
ann_file_train = 'data/sthv2/sthv2_train_list_videos.txt'
ann_file_val = 'data/sthv2/sthv2_val_list_videos.txt'
file_client_args = dict(io_backend='disk')

# One sampling per count (4 + 8 + 16 = 28 frames), decoded once, then one
# crop for all of them. No flip: Something-Something labels are directional.
train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='MultiRateSampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips_list=frame_counts),
    dict(type='UniqueDecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(
        type='MultiScaleCrop',
        input_size=224,
        scales=(1, 0.875, 0.75, 0.66),
        random_crop=False,
        max_wh_scale_gap=1,
        num_fixed_crops=13),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs', meta_keys=('img_shape', 'clip_lens')),
]
# Evaluation at any T: plain SampleFrames; T reaches the model via num_clips.
# Change it with --cfg-options test_dataloader.dataset.pipeline.1.num_clips=4
# (see docs/usage.md, "Test at any frame count").
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=frame_counts[-1],
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(
        type='PackActionInputs',
        meta_keys=('img_shape', 'num_clips', 'clip_len')),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    # Non-persistent workers so that EpochSeedHook can seed each epoch's
    # workers: a resumed run then draws the same frames as an uninterrupted one.
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_val,
        data_prefix=dict(video=data_root),
        pipeline=val_pipeline,
        test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=50, val_begin=1, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=50,
        by_epoch=True,
        milestones=[20, 40],
        gamma=0.1)
]

# TSM's groups (classifier weight lr x5, bias x10 with fc_lr5; norms without
# weight decay), with FFN's adapters among the conv weights.
optim_wrapper = dict(
    constructor='FFNOptimWrapperConstructor',
    paramwise_cfg=dict(fc_lr5=True),
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
    clip_grad=dict(max_norm=20, norm_type=2))

default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
# Seeds random/numpy/torch and the workers of every epoch from (seed, epoch):
# MMEngine restores no generator state on --resume (docs/reliability.md).
custom_hooks = [dict(type='EpochSeedHook')]
randomness = dict(seed=0)

auto_scale_lr = dict(enable=False, base_batch_size=32)
