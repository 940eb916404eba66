# FFN (4, 8, 16 frames) of MobileNetV2-TSM (width 0.5) on the CPU demo set;
# everything else as ffn_tsm_r18_demo.py.
_base_ = ['ffn_tsm_r18_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2TSM_FFN',
        widen_factor=0.5,
        num_segments_list={{_base_.frame_counts}},
        pretrained=None,
        pretrained2d=False),
    cls_head=dict(in_channels=1280))
