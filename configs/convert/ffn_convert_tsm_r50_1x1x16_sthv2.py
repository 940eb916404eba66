# Label-free conversion of an existing MMAction2 TSM-R50 checkpoint trained at
# 16 frames on Something-Something V2 into FFN (4, 8, 16 frames): the
# checkpoint's own 16-frame model is kept, frozen, as the 16-frame branch and
# teaches the 4- and 8-frame branches, of which only the norms and adapters
# train. The video list may carry no labels. Set the two local files:
#   python tools/train.py configs/convert/ffn_convert_tsm_r50_1x1x16_sthv2.py \
#       --cfg-options model.stock_checkpoint=checkpoints/tsm_r50_16f_sthv2.pth
_base_ = 'mmaction::recognition/tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_sthv2-rgb.py'
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader, unlabeled_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)  # the highest is the checkpoint's count
video_list = 'data/sthv2/sthv2_train_list_videos.txt'  # labels not read
model = frame_flexible_model(
    _base_.model, frame_counts, pretrained=None)  # weights: the checkpoint
model.update(
    stock_checkpoint='checkpoints/tsm_r50_1x1x16_sthv2.pth',
    supervision='none',
    trainable=('norms', 'adapters'))
train_dataloader = multi_rate_loader(
    unlabeled_loader(_base_.train_dataloader, video_list), frame_counts)
# Counted in iterations: the sampler never runs out.
train_dataloader['sampler'] = dict(type='InfiniteSampler', shuffle=True)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[0])
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1])

# A short schedule: only the low counts' norms and adapters move.
steps = 5000
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=steps,
    val_interval=1000)
optim_wrapper = dict(
    _delete_=True,
    constructor='FFNOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.),
    paramwise_cfg=dict(fc_lr5=False),
    clip_grad=dict(max_norm=20, norm_type=2))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=steps,
        by_epoch=False,
        begin=0,
        end=steps)
]
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=1000, max_keep_ckpts=3))
log_processor = dict(by_epoch=False)
