# Vanilla MMAction2 MobileNetV2-TSM (width 0.5) trained at 16 frames on the
# CPU demo set; everything else as tsm_r18_16f_demo.py.
_base_ = ['tsm_r18_16f_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='MobileNetV2TSM',
        widen_factor=0.5,
        num_segments=16,
        pretrained=None,
        pretrained2d=False),
    cls_head=dict(in_channels=1280))
