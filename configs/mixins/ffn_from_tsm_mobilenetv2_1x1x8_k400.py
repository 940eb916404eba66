# FFN mixed into MMAction2's MobileNetV2-TSM recipe (Kinetics-400: MMAction2
# has no MobileNetV2-TSM config on Something-Something V2).
_base_ = 'mmaction::recognition/tsm/tsm_imagenet-pretrained-mobilenetv2_8xb16-1x1x8-100e_kinetics400-rgb.py'
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
# Your local ImageNet MobileNetV2 (mmcls/mmpretrain naming); nothing is
# downloaded at run time.
model = frame_flexible_model(
    _base_.model, frame_counts, pretrained='checkpoints/mobilenet_v2.pth')
optim_wrapper = dict(constructor='FFNOptimWrapperConstructor')
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1])
