# FFN mixed into MMAction2's ir-CSN R50 recipe (IG65M-pretrained, frozen BN
# statistics: norm_eval, bn_frozen), the cheapest CSN recipe: 4/8/16 frames
# instead of 32, every count over the same span of the video.
_base_ = 'mmaction::recognition/csn/ircsn_ig65m-pretrained-r50-bnfrozen_8xb12-32x2x1-58e_kinetics400-rgb.py'
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(
    _base_.train_dataloader, frame_counts, mode='uniform')
val_dataloader = fixed_frames_loader(
    _base_.val_dataloader, frame_counts[-1], mode='uniform')
test_dataloader = fixed_frames_loader(
    _base_.test_dataloader, frame_counts[-1], mode='uniform')
