# FFN mixed into MMAction2's TSN recipe (plain ResNet-50, no temporal
# module: the counts differ only in their norms and adapters).
_base_ = 'mmaction::recognition/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py'
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(
    _base_.model, frame_counts,
    pretrained='checkpoints/resnet50-0676ba61.pth')  # a local file
optim_wrapper = dict(constructor='FFNOptimWrapperConstructor')
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1])
