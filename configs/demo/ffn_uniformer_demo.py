# FFN (4, 8, 16 frames) of the UniFormer of uniformer_16f_demo.py on the CPU demo set, made
# from it by the conversion a mixing config uses: RecognizerFFN3D, UniFormer_FFN
# and one uniform 3D clip per count (MultiRateSampleFrames3D); everything
# else as the vanilla model.
_base_ = ['uniformer_16f_demo.py']
from mmffn.apis import frame_flexible_model, multi_rate_loader

frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
