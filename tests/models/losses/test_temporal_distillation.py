"""TemporalKLLoss and TemporalDistillationLoss against hand computations."""
import math

import pytest
import torch
from mmaction.registry import MODELS

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.models.losses import TemporalDistillationLoss, TemporalKLLoss


def _softmax(row):
    exps = [math.exp(v) for v in row]
    return [e / sum(exps) for e in exps]


def _hand_losses(logits_low_to_high, labels):
    """CE of the last (teacher) and sum of KL(teacher probs || student)."""
    teacher = [_softmax(row) for row in logits_low_to_high[-1]]
    num = len(labels)
    ce = -sum(math.log(teacher[i][labels[i]]) for i in range(num)) / num
    kl = 0.0
    for student_logits in logits_low_to_high[:-1]:
        student = [_softmax(row) for row in student_logits]
        kl += sum(t * (math.log(t) - math.log(s)) for i in range(num)
                  for t, s in zip(teacher[i], student[i])) / num
    return ce, kl


def test_closed_form_values():
    # Teacher probs (1/2, 1/2), student probs (3/4, 1/4), label 0:
    # CE = log 2; KL = 1/2 log(2/3) + 1/2 log 2 = 1/2 log(4/3).
    loss = TemporalDistillationLoss()
    teacher = torch.tensor([[0.0, 0.0]])
    student = torch.tensor([[math.log(3.0), 0.0]])
    out = loss({4: student, 16: teacher}, torch.tensor([0]))
    assert out['loss_cls'].item() == pytest.approx(math.log(2), abs=1e-6)
    assert out['loss_distill'].item() == pytest.approx(
        0.5 * math.log(4 / 3), abs=1e-6)


def test_matches_hand_computation_on_fixed_logits():
    logits = {
        4: [[1.0, -0.5, 0.3], [0.2, 0.1, -1.0]],
        8: [[0.4, 0.0, 0.9], [-0.3, 1.2, 0.5]],
        16: [[2.0, -1.0, 0.0], [0.0, 0.5, 1.5]],
    }
    labels = [0, 2]
    ce, kl = _hand_losses([logits[4], logits[8], logits[16]], labels)
    tensors = {k: torch.tensor(v) for k, v in logits.items()}
    out = TemporalDistillationLoss()(tensors, torch.tensor(labels))
    assert out['loss_cls'].item() == pytest.approx(ce, abs=1e-6)
    assert out['loss_distill'].item() == pytest.approx(kl, abs=1e-6)
    # A sequence is read from the lowest to the highest count; dict order
    # does not matter.
    seq = TemporalDistillationLoss()([tensors[4], tensors[8], tensors[16]],
                                     torch.tensor(labels))
    shuffled = TemporalDistillationLoss()({
        16: tensors[16],
        4: tensors[4],
        8: tensors[8]
    }, torch.tensor(labels))
    for key in ('loss_cls', 'loss_distill'):
        assert seq[key].item() == pytest.approx(out[key].item())
        assert shuffled[key].item() == pytest.approx(out[key].item())


def test_weights_scale_each_term():
    torch.manual_seed(0)
    logits = {c: torch.randn(4, 5) for c in (4, 8, 16)}
    labels = torch.tensor([0, 1, 2, 3])
    base = TemporalDistillationLoss()(logits, labels)
    scaled = TemporalDistillationLoss(
        loss_weight=2.0, distill_weight=0.5)(logits, labels)
    assert base['loss_distill'].item() > 0
    assert scaled['loss_cls'].item() == pytest.approx(2 *
                                                      base['loss_cls'].item())
    assert scaled['loss_distill'].item() == pytest.approx(
        0.5 * base['loss_distill'].item())


def test_teacher_is_detached_and_students_learn():
    torch.manual_seed(0)
    logits = {c: torch.randn(3, 4, requires_grad=True) for c in (4, 8, 16)}
    out = TemporalDistillationLoss()(logits, torch.tensor([0, 1, 2]))
    out['loss_distill'].backward(retain_graph=True)
    assert logits[16].grad is None
    for count in (4, 8):
        assert logits[count].grad.abs().sum() > 0
    # No cross-entropy on the students: loss_cls only reaches the teacher.
    for count in (4, 8):
        logits[count].grad = None
    out['loss_cls'].backward()
    assert logits[16].grad.abs().sum() > 0
    assert logits[4].grad is None and logits[8].grad is None


def test_single_branch_has_zero_distillation():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    out = TemporalDistillationLoss()({8: logits}, torch.tensor([1]))
    assert out['loss_distill'].item() == 0.0
    assert out['loss_cls'].item() == pytest.approx(
        -math.log(_softmax([1.0, 2.0, 0.5])[1]))


def test_label_formats():
    torch.manual_seed(0)
    logits = {c: torch.randn(3, 4) for c in (4, 16)}
    indices = torch.tensor([3, 0, 1])
    reference = TemporalDistillationLoss()(logits, indices)['loss_cls']
    one_hot = torch.nn.functional.one_hot(indices, 4).float()
    column = indices[:, None]
    loss = TemporalDistillationLoss()
    assert loss(logits,
                one_hot)['loss_cls'].item() == pytest.approx(reference.item())
    assert loss(logits,
                column)['loss_cls'].item() == pytest.approx(reference.item())
    soft = torch.full((3, 4), 0.25)
    expected = -torch.log_softmax(logits[16], 1).mean(1).mean()
    assert loss(logits,
                soft)['loss_cls'].item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match=r'\(3, 5\)'):
        loss(logits, torch.zeros(3, 5))
    with pytest.raises(ValueError, match='same shape'):
        loss({4: torch.randn(2, 4), 8: torch.randn(3, 4)}, indices)
    with pytest.raises(ValueError, match='at least one'):
        loss({}, indices)


def test_registered():
    loss = MODELS.build(
        dict(type='TemporalDistillationLoss', distill_weight=0.3))
    assert isinstance(loss, TemporalDistillationLoss)
    assert loss.distill_weight == 0.3


def test_kl_term_alone_is_the_weighted_distillation_of_the_full_loss():
    """TemporalKLLoss, what RecognizerFFN adds to its head's loss, is the
    KL part of the seed formula; the teacher gets no gradient from it."""
    torch.manual_seed(0)
    logits = {c: torch.randn(3, 5, requires_grad=True) for c in (4, 8, 16)}
    labels = [0, 3, 1]
    _, hand_kl = _hand_losses([logits[c].tolist() for c in (4, 8, 16)], labels)
    out = TemporalKLLoss(loss_weight=0.4)(logits)
    assert set(out) == {'loss_distill'}
    assert out['loss_distill'].item() == pytest.approx(0.4 * hand_kl, rel=1e-5)
    full = TemporalDistillationLoss(distill_weight=0.4)(logits,
                                                        torch.tensor(labels))
    assert full['loss_distill'].item() == pytest.approx(
        out['loss_distill'].item(), rel=1e-6)
    out['loss_distill'].backward()
    assert logits[16].grad is None
    assert logits[4].grad.abs().sum() > 0
    assert TemporalKLLoss()({16: logits[16]})['loss_distill'].item() == 0
    assert isinstance(
        MODELS.build(dict(type='TemporalKLLoss', loss_weight=2.0)),
        TemporalKLLoss)
