# FFN mixed into MMAction2's VideoMAE ViT-B config (a test part only): trained
# with the 3D training part of configs/_base_ and AdamW at 4/8/16 frames (a
# multiple of the 2-frame tubelets); its 5-view test samples uniformly.
_base_ = [
    'mmaction::recognition/videomae/vit-base-p16_videomae-k400-pre_16x4x1_kinetics-400.py',
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
