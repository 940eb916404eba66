# Cascade testing of the FFN TSM mixed into MMAction2's SSv2 recipe: each
# video runs 4 frames, goes on to 8 and 16 only while its top class
# probability stays below the threshold. Pick the thresholds for your
# checkpoint with tools/calibrate_cascade.py on the validation list; these
# are placeholders.
_base_ = '../mixins/ffn_from_tsm_r50_1x1x8_sthv2.py'
from mmffn.apis import cascade_evaluator, cascade_loader, cascade_model

model = cascade_model(_base_.model, thresholds=(0.9, 0.8))
# One decode per video draws the 4-, 8- and 16-frame clips of every view.
test_dataloader = cascade_loader(_base_.test_dataloader, (4, 8, 16))
# AccMetric as before, plus mean frames, mean GFLOPs and per-count shares.
test_evaluator = cascade_evaluator(_base_.test_evaluator)
