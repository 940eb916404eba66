"""bfloat16 mixed precision: the head's accuracies read bfloat16 scores.

Under ``AmpOptimWrapper(dtype='bfloat16')`` (or any bf16 autocast) the
classifier's scores are bfloat16, and ``BaseHead.loss_by_feat`` turns them
into a numpy array for ``top_k_accuracy``; numpy has no bfloat16, so every
training step fails with ``TypeError: Got unsupported ScalarType BFloat16``,
for the stock recognizers as for FFN's. fp16 and fp32 scores work.

The patch gives ``loss_by_feat`` float32 scores when it gets bfloat16 ones:
the cast is exact, and autocast computes the cross-entropy's log-softmax in
float32 anyway. Gradients flow through the cast back to the bf16 scores.
Other dtypes pass unchanged.
"""
import functools

import torch

from .guard import MMACTION2_TESTED, wrap_once

__all__ = ['accept_bfloat16_scores_in_head_losses']


def _loss_by_feat_reading_bfloat16(original):
    """``BaseHead.loss_by_feat`` that reads bfloat16 scores as float32."""

    @functools.wraps(original)
    def loss_by_feat(self, cls_scores, data_samples, *args, **kwargs):
        if isinstance(cls_scores,
                      torch.Tensor) and cls_scores.dtype == torch.bfloat16:
            cls_scores = cls_scores.float()
        return original(self, cls_scores, data_samples, *args, **kwargs)

    return loss_by_feat


def accept_bfloat16_scores_in_head_losses() -> None:
    """Let the classification heads' losses run on bfloat16 scores (bf16
    mixed-precision training).

    Upstream: mmaction/models/heads/base.py, ``BaseHead.loss_by_feat``,
    lines 129-131 (``cls_scores.detach().cpu().numpy()``).
    """
    from mmaction.models.heads.base import BaseHead
    wrap_once(
        BaseHead,
        'loss_by_feat',
        _loss_by_feat_reading_bfloat16,
        package='mmaction2',
        tested=MMACTION2_TESTED,
        patch_name='accept_bfloat16_scores_in_head_losses '
        '(mmaction.models.heads.base.BaseHead.loss_by_feat)')
