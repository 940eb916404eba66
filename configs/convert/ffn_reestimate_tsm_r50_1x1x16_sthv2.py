# The fast mode of ffn_convert_tsm_r50_1x1x16_sthv2.py: nothing trains; each
# step runs the 4- and 8-frame branches in train mode, so their BatchNorm
# statistics are re-estimated on the videos (no gradient, no labels). One
# process (with nothing to train, DistributedDataParallel refuses the model).
_base_ = ['ffn_convert_tsm_r50_1x1x16_sthv2.py']

model = dict(trainable=())
steps = 200
train_cfg = dict(max_iters=steps, val_interval=steps)
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=steps))
