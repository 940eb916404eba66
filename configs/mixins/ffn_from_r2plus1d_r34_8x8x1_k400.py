# FFN mixed into MMAction2's R(2+1)D-34 recipe: 4/8/16 frames instead of 8
# (interval 8), every count over the same span of the video.
_base_ = 'mmaction::recognition/r2plus1d/r2plus1d_r34_8xb8-8x8x1-180e_kinetics400-rgb.py'
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(
    _base_.train_dataloader, frame_counts, mode='uniform')
val_dataloader = fixed_frames_loader(
    _base_.val_dataloader, frame_counts[-1], mode='uniform')
test_dataloader = fixed_frames_loader(
    _base_.test_dataloader, frame_counts[-1], mode='uniform')
