# FFN, TSM-R50, Something-Something V1 (frames extracted to JPEGs as in
# MMAction2's sthv1 data preparation): the SSv2 recipe on RawframeDataset.
_base_ = ['ffn_tsm_r50_ssv2.py']

model = dict(cls_head=dict(num_classes=174))

dataset_type = 'RawframeDataset'
data_root = 'data/sthv1/rawframes'
ann_file_train = 'data/sthv1/sthv1_train_list_rawframes.txt'
ann_file_val = 'data/sthv1/sthv1_val_list_rawframes.txt'
filename_tmpl = '{:05}.jpg'

train_pipeline = [
    dict(
        type='MultiRateSampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips_list={{_base_.frame_counts}}),
    dict(type='RawFrameDecode'),
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
val_pipeline = [
    dict(
        type='SampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips=16,
        test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(
        type='PackActionInputs',
        meta_keys=('img_shape', 'num_clips', 'clip_len')),
]
_dataset = dict(
    type=dataset_type,
    filename_tmpl=filename_tmpl,
    data_prefix=dict(img=data_root))
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        ann_file=ann_file_train,
        pipeline=train_pipeline,
        **_dataset))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        ann_file=ann_file_val,
        pipeline=val_pipeline,
        test_mode=True,
        **_dataset))
test_dataloader = val_dataloader
