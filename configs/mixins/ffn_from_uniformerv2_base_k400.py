# FFN mixed into MMAction2's UniFormerV2-B/16 Kinetics-400 recipe (CLIP
# init, its own training part): trained at 4/8/16 input frames, uniform over
# each video as the recipe samples; validated and tested at 16. Offline, the
# CLIP file goes into torch's hub cache (docs/coverage.md).
_base_ = [
    'mmaction::recognition/uniformerv2/uniformerv2-base-p16-res224_clip_8xb32-u8_kinetics400-rgb.py'  # noqa: E501
]
from mmffn.apis import (fixed_frames_loader, frame_flexible_model,
                        multi_rate_loader)

custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
frame_counts = (4, 8, 16)
model = frame_flexible_model(_base_.model, frame_counts)
train_dataloader = multi_rate_loader(_base_.train_dataloader, frame_counts)
val_dataloader = fixed_frames_loader(_base_.val_dataloader, frame_counts[-1])
test_dataloader = fixed_frames_loader(_base_.test_dataloader, frame_counts[-1])
