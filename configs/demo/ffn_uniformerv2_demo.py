# FFN (4, 8, 16 frames) of the UniFormerV2 of uniformerv2_16f_demo.py on the
# CPU demo set, made from it by the conversion a mixing config uses:
# RecognizerFFN3D, UniFormerV2_FFN and one uniform 3D clip per count
# (MultiRateSampleFrames3D); everything else as the vanilla model.
_base_ = ['uniformerv2_16f_demo.py']
from mmffn.apis import frame_flexible_model, multi_rate_loader

frame_counts = (4, 8, 16)
# The head's cross-entropy on every count besides the distillation: with
# the paper's loss alone the FFN stayed at chance for 8 of the 10 epochs
# (docs/backbones_demo.md).
model = dict(
    frame_flexible_model(_base_.model, frame_counts), supervision='every')
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
