"""FFN's temporal distillation loss.

The highest frame count is the teacher: it alone gets the classification
loss, and every lower count learns to match its (detached) prediction:
``L = CE(p_H, y) + lambda * sum_low KL(p_low || p_H)``. The lower branches
get no cross-entropy, as in the paper.
"""
from typing import Dict, Mapping, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmaction.registry import MODELS

Logits = Union[Mapping[int, torch.Tensor], Sequence[torch.Tensor]]


@MODELS.register_module()
class TemporalDistillationLoss(nn.Module):
    """Cross-entropy on the teacher plus KL of every student to it.

    Args:
        loss_weight (float): Factor of the teacher's cross-entropy.
            Defaults to 1.0.
        distill_weight (float): ``lambda``, factor of the summed KL terms.
            Defaults to 1.0.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 distill_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.distill_weight = distill_weight

    @staticmethod
    def _ordered(logits_by_count: Logits) -> list:
        """Logits from the lowest to the highest frame count."""
        if isinstance(logits_by_count, Mapping):
            return [logits_by_count[k] for k in sorted(logits_by_count)]
        return list(logits_by_count)

    @staticmethod
    def cross_entropy(logits: torch.Tensor,
                      labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy for class indices or soft (N, C) labels."""
        num, num_classes = logits.shape
        if labels.dim() == 2 and labels.shape[1] == 1 and num_classes != 1:
            labels = labels[:, 0]  # MMAction2 stacks (1,) gt_labels
        if labels.shape == (num, ) and not labels.is_floating_point():
            return F.cross_entropy(logits, labels)
        if labels.shape == (num, num_classes):
            # Soft or one-hot targets, as MMAction2's CrossEntropyLoss.
            log_probs = F.log_softmax(logits, dim=1)
            return -(labels.to(log_probs.dtype) * log_probs).sum(dim=1).mean()
        raise ValueError(
            'labels must be class indices of shape (N,) or (N, 1), or soft '
            f'labels of shape (N, C); got {tuple(labels.shape)} '
            f'({labels.dtype}) for logits of shape {tuple(logits.shape)}')

    def forward(self, logits_by_count: Logits,
                labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Compute the two losses.

        Args:
            logits_by_count (dict[int, Tensor] | Sequence[Tensor]): Logits
                (N, C) per frame count; a sequence is ordered from the lowest
                to the highest count. The highest count is the teacher.
            labels (Tensor): Class indices (N,) or soft labels (N, C).

        Returns:
            dict: ``loss_cls`` (teacher cross-entropy) and ``loss_distill``
            (weighted sum of the students' KL; 0 with a single count).
        """
        logits = self._ordered(logits_by_count)
        if not logits:
            raise ValueError('TemporalDistillationLoss needs the logits of at '
                             'least one frame count')
        teacher = logits[-1]
        for student in logits[:-1]:
            if student.shape != teacher.shape:
                raise ValueError('every frame count must give logits of the '
                                 f'same shape; got {tuple(student.shape)} and '
                                 f'{tuple(teacher.shape)}')
        loss_cls = self.loss_weight * self.cross_entropy(teacher, labels)
        target = F.softmax(teacher.detach(), dim=1)
        loss_distill = teacher.new_zeros(())
        for student in logits[:-1]:
            loss_distill = loss_distill + F.kl_div(
                F.log_softmax(student, dim=1), target, reduction='batchmean')
        return dict(
            loss_cls=loss_cls, loss_distill=self.distill_weight * loss_distill)
