# FFN (4, 8, 16 frames) of the ResNet-18 TSM of tsm_r18_16f_demo.py on the CPU
# demo set, made from it by the conversion a mixing config uses:
# RecognizerFFN, ResNetTSM_FFN and MultiRateSampleFrames; everything else
# (schedule included) as the vanilla model.
# The paper's loss on the same model: ablations/ffn_tsm_r18_demo_paper_loss.py.
_base_ = ['tsm_r18_16f_demo.py']
from mmffn.apis import frame_flexible_model, multi_rate_loader

frame_counts = (4, 8, 16)
model = dict(
    frame_flexible_model(_base_.model, frame_counts),
    distill_loss=dict(type='TemporalKLLoss', loss_weight=1.0),
    # Unlike the paper's loss (cross-entropy on 16 frames only), the 4- and
    # 8-frame clips get the cross-entropy too: from scratch in 750 steps the
    # teacher sits near chance for an epoch or more, and distilling it alone
    # held some seeds' shared weights there (docs/ablations.md).
    supervision='every')
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
