# Separated training: one vanilla TSM-R50 per frame count, here 4 frames,
# trained and tested at 4 (with tsm_r50_ssv2_{4,8,16}f.py: 3 models).
_base_ = ['tsm_r50_ssv2_16f.py']
from mmffn.apis import fixed_frames_loader

frames = 4
model = dict(
    backbone=dict(num_segments=frames), cls_head=dict(num_segments=frames))
train_dataloader = fixed_frames_loader(_base_.train_dataloader, frames)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frames)
test_dataloader = val_dataloader
