# Shared by the CPU demo configs: the generated temporal video set
# (mmffn.datasets.synthetic, `python tools/generate_demo_data.py`), a small
# resolution and a short schedule. Only the model and the training sampler
# differ between the vanilla TSM and the FFN demo.
_base_ = 'mmaction::_base_/default_runtime.py'

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)

data_root = 'data/ffn_demo'
num_classes = 4  # DEMO_CLASSES: fade in/out, slow/fast
img_size = 32
eval_frames = 16  # validation/test clip length; change to sweep

data_preprocessor = dict(
    type='ActionDataPreprocessor',
    mean=[127.5, 127.5, 127.5],
    std=[64.0, 64.0, 64.0],
    format_shape='NCHW')

test_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=eval_frames,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(img_size, img_size), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(
        type='PackActionInputs',
        meta_keys=('img_shape', 'num_clips', 'clip_len')),
]

_dataset = dict(type='VideoDataset', data_prefix=dict(video=data_root))
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(ann_file=data_root + '/train.txt', **_dataset))
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        ann_file=data_root + '/val.txt',
        pipeline=test_pipeline,
        test_mode=True,
        **_dataset))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator

# About 750 iterations of batch 8 for each model: enough for the 16-frame
# models to tell the four fades apart (see mmffn/datasets/synthetic.py).
max_epochs = 5
train_cfg = dict(
    type='EpochBasedTrainLoop',
    max_epochs=max_epochs,
    val_begin=1,
    val_interval=max_epochs)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
    # From scratch, a short warm-up keeps AdamW's first steps from
    # overshooting while the BatchNorm statistics settle.
    dict(type='LinearLR', start_factor=0.02, by_epoch=False, begin=0, end=50),
]
default_hooks = dict(
    checkpoint=dict(interval=1, max_keep_ckpts=2), logger=dict(interval=10))
custom_hooks = [dict(type='EpochSeedHook')]
randomness = dict(seed=0, deterministic=False)
