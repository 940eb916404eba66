# FFN (4, 8, 16 frames) of TANet-R50 on the CPU demo set; everything else as
# ffn_tsm_r18_demo.py.
# Like tanet_r50_16f_demo.py, only the first 2 of ResNet-50's 4 stages
# (num_stages=2, 512 output channels); the file name keeps "r50" (depth=50,
# Bottleneck TA-blocks). Keep in sync with tanet_r50_16f_demo.py.
_base_ = ['ffn_tsm_r18_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='TANet_FFN',
        depth=50,
        num_stages=2,
        out_indices=(1, ),
        strides=(1, 2),
        dilations=(1, 1),
        num_segments_list={{_base_.frame_counts}},
        pretrained=None,
        norm_eval=False),
    cls_head=dict(in_channels=512))  # 64 * 2**(num_stages-1) * 4
