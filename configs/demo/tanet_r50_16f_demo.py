# Vanilla MMAction2 TANet-R50 trained at 16 frames on the CPU demo set;
# everything else as tsm_r18_16f_demo.py.
# Only the first 2 of ResNet-50's 4 stages are built (num_stages=2: 3 + 4
# TA-Bottlenecks, 512 output channels at 4x4 from 32 px): the full R50 did
# not learn the task in 5 epochs from scratch (34.5 % at 16 frames, about
# 10.5 min on 2 cores); the 2-stage one learns it (87.25 %) and is cheaper
# (0.65 s/iteration on 1 thread vs 0.84 s on 2 for the full R50). The file
# name keeps "r50": depth=50 still picks the Bottleneck layout (TA-blocks
# need Bottlenecks). ffn_tanet_r50_demo.py is made from this config.
_base_ = ['tsm_r18_16f_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='TANet',
        depth=50,
        num_stages=2,
        out_indices=(1, ),
        strides=(1, 2),
        dilations=(1, 1),
        num_segments=16,
        pretrained=None,
        norm_eval=False),
    cls_head=dict(in_channels=512))  # 64 * 2**(num_stages-1) * 4
