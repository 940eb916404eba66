"""Which parameters of an FFN model train: its parts, by what they are.

Label-free conversion of a stock checkpoint trains only the lower counts'
private layers and keeps the highest count (the teacher) as loaded; the
ablations train everything. The parts are found from the layers themselves
(every :class:`RateSpecificLayer` holds one variant per count), so the same
names work for every frame-flexible backbone.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch.nn as nn

from ..layers import RateSpecificLayer, WeightAlteredConv

__all__ = [
    'check_trainable', 'freezes_teacher', 'parameter_parts', 'freeze_all_but'
]

#: ``norms``: the private norms (and other per-count variants, e.g.
#: TimeSformer's time embedding) of every count below the highest;
#: ``adapters``: their weight-alteration adapters; ``teacher``: the highest
#: count's private norms and adapters; ``shared``: everything else (convs,
#: attention, classifier).
PARTS = ('norms', 'adapters', 'teacher', 'shared')


def check_trainable(trainable: Optional[Sequence[str]]
                    ) -> Optional[Tuple[str, ...]]:
    """``trainable`` as a tuple of parts, or None (everything trains)."""
    if trainable is None:
        return None
    if isinstance(trainable,
                  str) or not all(isinstance(part, str) for part in trainable):
        raise TypeError('trainable must be None or a sequence of part names '
                        f'from {PARTS}, got {trainable!r}')
    unknown = [part for part in trainable if part not in PARTS]
    if unknown:
        raise ValueError(f'Unknown trainable parts {unknown}; the parts are '
                         f'{PARTS}')
    return tuple(trainable)


def freezes_teacher(trainable: Optional[Sequence[str]]) -> bool:
    """Whether ``trainable`` leaves every parameter of the highest count
    (its private parts and the shared weights) untrained."""
    return trainable is not None and not {'teacher', 'shared'} & set(trainable)


def parameter_parts(model: nn.Module, highest: int) -> Dict[str, str]:
    """The part (one of :data:`PARTS`) of every named parameter of
    ``model``; ``highest`` is the teacher's count."""
    private = {}
    for module in model.modules():
        if not isinstance(module, RateSpecificLayer):
            continue
        kind = 'adapters' if isinstance(module, WeightAlteredConv) else 'norms'
        variants = module._variants()
        for key, variant in variants.items():
            params = variant.parameters() if isinstance(
                variant, nn.Module) else [variant]
            for param in params:
                private[id(param)] = 'teacher' if int(key) == highest else kind
    return {
        name: private.get(id(param), 'shared')
        for name, param in model.named_parameters()
    }


def freeze_all_but(model: nn.Module, trainable: Sequence[str],
                   highest: int) -> Dict[str, int]:
    """Leave ``requires_grad`` on for the parameters of the ``trainable``
    parts only; return the number of trainable values per part."""
    parts = parameter_parts(model, highest)
    counts = {part: 0 for part in PARTS}
    for name, param in model.named_parameters():
        param.requires_grad_(parts[name] in trainable)
        if parts[name] in trainable:
            counts[parts[name]] += param.numel()
    return counts
