# FFN mixed into MMAction2's SlowFast-R50 recipe as in the paper: slow pathway
# at 4/8/16 frames, fast at 16/32/64 (resample_rate = speed_ratio = 4), every
# count over the same span of the video (mode='uniform').
_base_ = 'mmaction::recognition/slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py'
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts, rate = (4, 8, 16), 4
model = frame_flexible_model(_base_.model, frame_counts)
model['backbone'].update(resample_rate=rate, speed_ratio=rate)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts,
                                     rate, 'uniform')
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1],
                                     rate, 'uniform')
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1],
                                      rate, 'uniform')
