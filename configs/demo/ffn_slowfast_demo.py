# FFN (4, 8, 16 slow frames: clips of 8, 16 and 32 frames) of the SlowFast of
# slowfast_16f_demo.py on the CPU demo set, made from it by the conversion a
# mixing config uses; everything else as the vanilla model.
_base_ = ['slowfast_16f_demo.py']
from mmffn.apis import frame_flexible_model, multi_rate_loader

frame_counts = (4, 8, 16)
# The loss of ffn_x3d_demo.py, for the reason given there (this pair's
# numbers: docs/backbones_demo.md).
model = dict(
    frame_flexible_model(_base_.model, frame_counts), supervision='every')
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts,
                                     _base_.model.backbone.resample_rate)
