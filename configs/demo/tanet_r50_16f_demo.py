# Vanilla MMAction2 TANet-R50 trained at 16 frames on the CPU demo set;
# everything else as tsm_r18_16f_demo.py.
_base_ = ['tsm_r18_16f_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='TANet',
        depth=50,
        num_segments=16,
        pretrained=None,
        norm_eval=False),
    cls_head=dict(in_channels=2048))
