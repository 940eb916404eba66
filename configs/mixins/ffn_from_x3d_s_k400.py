# FFN mixed into MMAction2's X3D-S config, which ships only a test part (for
# Facebook's weights): trained and tested with the 3D training part of
# configs/_base_ at 4/8/16 frames, uniform over each video.
_base_ = [
    'mmaction::recognition/x3d/x3d_s_13x6x1_facebook-kinetics400-rgb.py',
    '../_base_/ffn_3d_kinetics400_training.py'
]
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = val_dataloader
