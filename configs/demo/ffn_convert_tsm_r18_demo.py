# Label-free conversion of the demo's vanilla TSM (tsm_r18_16f_demo.py, a
# trained checkpoint) into FFN (4, 8, 16): the 16-frame branch is the loaded
# model, frozen, and teaches the 4- and 8-frame branches, whose norms and
# adapters alone train on the training videos; their labels are not read.
# tools/demo.py passes the checkpoint: --cfg-options model.stock_checkpoint=...
_base_ = ['tsm_r18_16f_demo.py']
from mmffn.apis import (frame_flexible_model, multi_rate_loader,
                        unlabeled_loader)

frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
model.update(
    stock_checkpoint='work_dirs/demo/tsm_r18_16f_demo/epoch_5.pth',
    supervision='none',
    trainable=('norms', 'adapters'))
train_dataloader = multi_rate_loader(
    unlabeled_loader(_base_.train_dataloader, _base_.data_root + '/train.txt'),
    frame_counts)
# Counted in iterations: the sampler never runs out.
train_dataloader['sampler'] = dict(type='InfiniteSampler', shuffle=True)

steps = 300
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=steps,
    val_interval=steps)
optim_wrapper = dict(optimizer=dict(lr=3e-3, weight_decay=0.))
param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        T_max=steps,
        by_epoch=False,
        begin=0,
        end=steps)
]
default_hooks = dict(
    # 2, not 1: MMEngine deletes the oldest kept checkpoint before it
    # writes the next, so with 1 a kill while saving leaves none.
    checkpoint=dict(by_epoch=False, interval=100, max_keep_ckpts=2),
    logger=dict(interval=20))
log_processor = dict(by_epoch=False)
