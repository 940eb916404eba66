"""FFN's temporal distillation: the highest frame count teaches the others.

``TemporalKLLoss`` is the distillation term alone,
``lambda * sum_low KL(p_H || p_low)`` written as in the paper
(``F.kl_div(log p_low, p_H)``, teacher detached, ``batchmean``).
``RecognizerFFN`` adds it to what the configured head computes on the
highest count, so the head's loss settings all apply.

``TemporalDistillationLoss`` is the founding notes' whole formula,
``CE(p_H, y) + lambda * KL``, for use outside a recognizer (a custom loop, a
study); its cross-entropy is plain and knows no head settings.
"""
from typing import Dict, Mapping, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS

__all__ = ['temporal_kl', 'TemporalKLLoss', 'TemporalDistillationLoss']

Logits = Union[Mapping[int, torch.Tensor], Sequence[torch.Tensor]]


def _ordered(logits_by_count: Logits) -> list:
    """Logits from the lowest to the highest frame count, checked."""
    if isinstance(logits_by_count, Mapping):
        logits = [logits_by_count[k] for k in sorted(logits_by_count)]
    else:
        logits = list(logits_by_count)
    if not logits:
        raise ValueError('temporal distillation needs the logits of at least '
                         'one frame count, got none')
    for student in logits[:-1]:
        if student.shape != logits[-1].shape:
            raise ValueError('every frame count must give logits of the same '
                             f'shape; got {tuple(student.shape)} and '
                             f'{tuple(logits[-1].shape)}')
    return logits


def temporal_kl(logits_by_count: Logits) -> torch.Tensor:
    """Unweighted sum over the lower counts of ``KL(p_H || p_low)``."""
    logits = _ordered(logits_by_count)
    target = F.softmax(logits[-1].detach(), dim=1)
    loss = logits[-1].new_zeros(())
    for student in logits[:-1]:
        loss = loss + F.kl_div(
            F.log_softmax(student, dim=1), target, reduction='batchmean')
    return loss


@MODELS.register_module()
class TemporalKLLoss(nn.Module):
    """KL of every lower count's prediction to the highest count's.

    Args:
        loss_weight (float): ``lambda``, factor of the summed KL terms.
            Defaults to 1.0.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, logits_by_count: Logits) -> Dict[str, torch.Tensor]:
        """The distillation term.

        Args:
            logits_by_count (dict[int, Tensor] | Sequence[Tensor]): Logits
                (N, C) per frame count; a sequence is ordered from the lowest
                to the highest count. The highest count is the teacher.

        Returns:
            dict: ``loss_distill``, the weighted sum over the lower counts
            (0 with a single count).
        """
        return dict(loss_distill=self.loss_weight *
                    temporal_kl(logits_by_count))


@MODELS.register_module()
class TemporalDistillationLoss(nn.Module):
    """Cross-entropy on the teacher plus :class:`TemporalKLLoss`.

    Stand-alone form of FFN's loss; ``RecognizerFFN`` takes a
    ``TemporalKLLoss`` instead and leaves the supervised term to its head.

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
                (N, C) per frame count, as for :class:`TemporalKLLoss`.
            labels (Tensor): Class indices (N,) or soft labels (N, C).

        Returns:
            dict: ``loss_cls`` (teacher cross-entropy) and ``loss_distill``.
        """
        logits = _ordered(logits_by_count)
        return dict(
            loss_cls=self.loss_weight * self.cross_entropy(logits[-1], labels),
            loss_distill=self.distill_weight * temporal_kl(logits))
