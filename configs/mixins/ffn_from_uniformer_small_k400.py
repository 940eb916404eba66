# FFN mixed into MMAction2's UniFormer-S config (a test part only): trained
# with the 3D training part of configs/_base_ and AdamW, at 4/8/16 frames;
# its 4-view test pipeline samples uniformly, like the training.
_base_ = [
    'mmaction::recognition/uniformer/uniformer-small_imagenet1k-pre_16x4x1_kinetics400-rgb.py',
    '../_base_/ffn_3d_kinetics400_training.py'
]
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=1e-4, weight_decay=0.05))
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = fixed_frames_loader(
    _base_.test_dataloader, frame_counts[-1], mode='uniform')
