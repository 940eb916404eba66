# FFN (4, 8, 16 slow frames: clips of 8, 16 and 32 frames) of the SlowFast of
# slowfast_16f_demo.py on the CPU demo set, made from it by the conversion a
# mixing config uses; everything else as the vanilla model.
_base_ = ['slowfast_16f_demo.py']
from mmffn.datasets.pipeline_conversion import multi_rate_loader
from mmffn.models.model_conversion import frame_flexible_model

frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts,
                                     _base_.model.backbone.resample_rate)
