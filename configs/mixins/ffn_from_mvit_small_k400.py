# FFN mixed into MMAction2's MViT-S Kinetics-400 recipe (from scratch, its
# own training part with mixup/cutmix): trained at 4/8/16 input frames; its
# temporal_size stays the recipe's 16 (the copy of branch 16 is the stock
# weight); validated and tested at 16.
_base_ = [
    'mmaction::recognition/mvit/mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py'  # noqa: E501
]
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1])
