# FFN with four frame counts (4, 8, 12, 16).
_base_ = ['../ffn_tsm_r50_ssv2.py']
from mmffn.apis import multi_rate_loader

frame_counts = (4, 8, 12, 16)
model = dict(backbone=dict(num_segments_list=frame_counts))
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
