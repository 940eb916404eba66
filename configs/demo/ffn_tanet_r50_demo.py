# FFN (4, 8, 16 frames) of the 2-stage TANet of tanet_r50_16f_demo.py on the
# CPU demo set, made from it by the conversion a mixing config uses:
# RecognizerFFN, TANet_FFN and MultiRateSampleFrames; everything else as the
# vanilla model.
_base_ = ['tanet_r50_16f_demo.py']
from mmffn.apis import frame_flexible_model, multi_rate_loader

frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
