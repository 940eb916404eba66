# Vanilla TSM-R50 trained at 16 frames with FFN's SSv2 recipe (same data,
# schedule and optimizer as ../ffn_tsm_r50_ssv2.py): the paper's baseline.
_base_ = ['../ffn_tsm_r50_ssv2.py']
from mmffn.apis import fixed_frames_loader, stock_model

frames = 16
model = dict(_delete_=True, **stock_model(_base_.model, frames))
model['backbone'].update(  # ImageNet weights, as FFN's
    pretrained=_base_.model.backbone.pretrained,
    pretrained2d=True)
train_dataloader = fixed_frames_loader(_base_.train_dataloader, frames)
