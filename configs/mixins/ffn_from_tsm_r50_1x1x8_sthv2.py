# FFN mixed into an MMAction2 TSM recipe: dicts merge into the inherited
# ones, pipelines are converted.
_base_ = 'mmaction::recognition/tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb.py'
from mmffn.datasets.pipeline_conversion import (fixed_frames_loader,
                                                multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = dict(
    type='RecognizerFFN',
    backbone=dict(
        type='ResNetTSM_FFN',
        num_segments_list=frame_counts,
        num_segments=16,
        pretrained='checkpoints/resnet50-0676ba61.pth'),
    cls_head=dict(num_segments=16))
optim_wrapper = dict(constructor='FFNOptimWrapperConstructor')
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1])
