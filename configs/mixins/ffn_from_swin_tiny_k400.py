# FFN mixed into MMAction2's Video Swin-T Kinetics-400 recipe (ImageNet-1k
# Swin-T inflated, its own training part, AMP): trained at 4/8/16 input
# frames (2/4/8 token frames, each within the 8-frame window); validated and
# tested at 16.
_base_ = [
    'mmaction::recognition/swin/swin-tiny-p244-w877_in1k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py'  # noqa: E501
]
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1])
