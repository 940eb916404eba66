# FFN on TSM-R50: MMAction2's TSM-R50 model with the backbone made frame
# flexible and the recognizer trained on every frame count at once.
_base_ = 'mmaction::_base_/models/tsm_r50.py'

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)

model = dict(
    type='RecognizerFFN',
    backbone=dict(
        type='ResNetTSM_FFN',
        num_segments_list=(4, 8, 16),
        num_segments=16,
        branch_policy='nearest',
        weight_alteration=True,
        # torchvision's ImageNet ResNet-50 (IMAGENET1K_V1) as a local file;
        # nothing is downloaded at run time. Set to None to train from
        # scratch.
        pretrained='checkpoints/resnet50-0676ba61.pth'),
    cls_head=dict(num_segments=16),
    distill_loss=dict(type='TemporalKLLoss', loss_weight=1.0))
