# Vanilla MMAction2 TSM trained at 16 frames on the CPU demo set: the
# baseline that shows Temporal Frequency Deviation. Same backbone, head and
# schedule as ffn_tsm_r18_demo.py.
_base_ = ['demo_base.py']

model = dict(
    type='Recognizer2D',
    backbone=dict(
        type='ResNetTSM',
        depth=18,
        pretrained=None,
        pretrained2d=False,
        num_segments=16,
        norm_eval=False),
    cls_head=dict(
        type='TSMHead',
        num_classes={{_base_.num_classes}},
        in_channels=512,
        num_segments=16,
        dropout_ratio=0.2,
        init_std=0.01,
        average_clips='prob'),
    data_preprocessor={{_base_.data_preprocessor}})

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=16),
    dict(type='DecordDecode'),
    dict(
        type='Resize',
        scale=({{_base_.img_size}}, {{_base_.img_size}}),
        keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
