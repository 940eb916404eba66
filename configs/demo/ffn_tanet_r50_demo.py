# FFN (4, 8, 16 frames) of TANet-R50 on the CPU demo set; everything else as
# ffn_tsm_r18_demo.py.
_base_ = ['ffn_tsm_r18_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='TANet_FFN',
        depth=50,
        num_segments_list={{_base_.frame_counts}},
        pretrained=None,
        norm_eval=False),
    cls_head=dict(in_channels=2048))
