# Separated training on the demo set: the vanilla TSM of
# ../tsm_r18_16f_demo.py trained at 4 frames (with tsm_r18_8f_demo.py and the
# 16-frame one: one model per count).
_base_ = ['../tsm_r18_16f_demo.py']
from mmffn.apis import fixed_frames_loader

frames = 4
model = dict(
    backbone=dict(num_segments=frames), cls_head=dict(num_segments=frames))
train_dataloader = fixed_frames_loader(_base_.train_dataloader, frames)
