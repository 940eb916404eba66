# FFN (4, 8, 16 frames) of the narrow X3D of x3d_16f_demo.py on the CPU demo
# set: one uniform 3D clip per count (MultiRateSampleFrames3D), otherwise the
# same training pipeline.
_base_ = ['x3d_16f_demo.py']

frame_counts = (4, 8, 16)
model = dict(
    type='RecognizerFFN3D',
    backbone=dict(type='X3D_FFN', num_segments_list=frame_counts),
    distill_loss=dict(type='TemporalKLLoss', loss_weight=1.0))
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='MultiRateSampleFrames3D', clip_len_list=frame_counts),
    dict(type='UniqueDecordDecode'),
    dict(
        type='Resize',
        scale=({{_base_.img_size}}, {{_base_.img_size}}),
        keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs', meta_keys=('img_shape', 'frame_counts'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
