# FFN, TSM-R50, Kinetics-400: the SSv2 recipe with K400 data, flip on and
# weight decay 1e-4 (FFN paper).
_base_ = ['ffn_tsm_r50_ssv2.py']

model = dict(cls_head=dict(num_classes=400))

data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'

train_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='MultiRateSampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips_list={{_base_.frame_counts}}),
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
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs', meta_keys=('img_shape', 'clip_lens')),
]
train_dataloader = dict(
    dataset=dict(
        ann_file=ann_file_train,
        data_prefix=dict(video=data_root),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(ann_file=ann_file_val, data_prefix=dict(video=data_root_val)))
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(weight_decay=1e-4))
