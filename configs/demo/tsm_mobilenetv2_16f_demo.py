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

# From scratch, MobileNetV2 needs a longer and stronger schedule than the
# ResNet-18 demo (5 epochs at AdamW lr 1e-3 gave 31 % at 16 frames): 10 epochs
# (1500 iterations of batch 8) at lr 3e-3, same cosine decay and 50-iteration
# linear warm-up. ffn_mobilenetv2_demo.py inherits all of it.
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        by_epoch=True,
        begin=0,
        end=max_epochs,
        convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=0.02, by_epoch=False, begin=0, end=50),
]
