"""Give every normalisation layer of a network one private copy per frame
count: FFN's specialised normalisation, for any backbone.

BatchNorms (1d/2d/3d, SyncBN) become :class:`RateSpecificBatchNorm`: private
running statistics and affine parameters. Norms without running statistics
(LayerNorm, GroupNorm, InstanceNorm, RMSNorm) become a
:class:`RateSpecificModule` of copies: private affine parameters, which is
all such a norm learns. State-dict keys read ``<name>.branches.<T>.<key>``
for both, which is what pretrained conversion fills from a stock checkpoint.
"""
import copy
from typing import Optional

import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.instancenorm import _InstanceNorm

from ...utils import check_frame_counts
from .rate_specific import RateSpecificLayer
from .rate_specific_bn import RateSpecificBatchNorm
from .rate_specific_module import RateSpecificModule

__all__ = ['is_rate_specific_norm', 'convert_to_rate_specific_norms']

# Subclasses count too: mmcv's and MMAction2's LayerNorm variants are
# nn.LayerNorm subclasses.
AFFINE_ONLY_NORMS = (nn.LayerNorm, nn.GroupNorm, _InstanceNorm, nn.RMSNorm)


def is_rate_specific_norm(module: nn.Module) -> bool:
    """Whether ``module`` is a norm with per-count copies (either kind)."""
    return isinstance(module, RateSpecificBatchNorm) or (
        isinstance(module, RateSpecificModule)
        and isinstance(module.branch(), AFFINE_ONLY_NORMS))


def convert_to_rate_specific_norms(module: nn.Module,
                                   frame_counts,
                                   active: Optional[int] = None) -> nn.Module:
    """Replace every normalisation layer in a module tree by per-count
    copies.

    Works like ``nn.SyncBatchNorm.convert_sync_batchnorm``: the returned
    module is ``module`` itself with its norm children swapped, or the
    per-count layer when ``module`` is a norm. Every copy holds the
    original's config, values, ``requires_grad`` and train/eval mode.
    Rate-specific layers (already per count, with whatever norms they hold)
    are left alone, so converting twice is harmless.

    Args:
        module (nn.Module): Module to convert in place.
        frame_counts (Sequence[int]): Frame counts, e.g. ``(4, 8, 16)``.
        active (int, optional): Count whose copy runs. Defaults to the
            highest count.

    Returns:
        nn.Module: The converted module.
    """
    if isinstance(module, RateSpecificLayer):
        return module
    if isinstance(module, _BatchNorm):
        return RateSpecificBatchNorm.from_norm(module, frame_counts, active)
    if isinstance(module, AFFINE_ONLY_NORMS):
        counts = check_frame_counts(frame_counts)
        per_count = RateSpecificModule(
            {count: copy.deepcopy(module)
             for count in counts}, active=active)
        per_count.train(module.training)
        return per_count
    for name, child in module.named_children():
        converted = convert_to_rate_specific_norms(child, frame_counts, active)
        if converted is not child:
            module.add_module(name, converted)
    return module
