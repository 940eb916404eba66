"""Rate-specific BatchNorm: one private BatchNorm per input frame count.

FFN's main fix for Temporal Frequency Deviation: a network that sees clips of
4, 8 and 16 frames keeps separate normalisation statistics (and affine
parameters) for each count, while every convolution stays shared.
"""
import copy
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmaction.registry import MODELS
from mmcv.cnn import build_norm_layer
from torch.nn.modules import module as _module_hooks
from torch.nn.modules.batchnorm import _BatchNorm

from ...utils import check_frame_counts
from .rate_specific import RateSpecificLayer

__all__ = ['RateSpecificBatchNorm']

_BATCH_NORM_FORWARD = _BatchNorm.forward


@MODELS.register_module()
class RateSpecificBatchNorm(RateSpecificLayer, nn.Module):
    """A BatchNorm with a private copy per frame count.

    The copies live in ``self.branches`` (a ``ModuleDict`` keyed by the count
    as a string), so state-dict keys read ``<name>.branches.16.running_mean``.
    They stay ordinary ``_BatchNorm`` modules: MMEngine's
    ``convert_sync_batchnorm``/``revert_sync_batchnorm``, ResNet's
    ``norm_eval`` and ``frozen_stages`` all reach them. Only the branch named
    by ``active`` runs; the others keep their parameters and running
    statistics untouched.

    ``_abbr_ = 'bn'`` keeps ConvModule's attribute name ``bn`` when the layer
    is built from a ``norm_cfg``.

    Args:
        num_features (int): Number of channels.
        frame_counts (Sequence[int]): Frame counts with a private copy.
            Defaults to ``(4, 8, 16)``.
        norm_cfg (dict, optional): Config of the BatchNorm to copy.
            Defaults to ``dict(type='BN2d')``.
        active (int, optional): Count whose copy runs. Defaults to the
            highest count.
        **kwargs: Further BatchNorm arguments (``eps``, ``momentum``, ...)
            added to ``norm_cfg``; ``build_norm_layer`` passes ``eps``.
    """
    _abbr_ = 'bn'
    _variants_name = 'branches'

    def __init__(self,
                 num_features: int,
                 frame_counts=(4, 8, 16),
                 norm_cfg: Optional[dict] = None,
                 active: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__()
        norm_cfg = dict(type='BN2d') if norm_cfg is None else dict(norm_cfg)
        norm_cfg.update(kwargs)
        _, template = build_norm_layer(norm_cfg, num_features)
        self._set_branches(template, frame_counts, active)

    @classmethod
    def from_norm(cls,
                  norm: _BatchNorm,
                  frame_counts,
                  active: Optional[int] = None) -> 'RateSpecificBatchNorm':
        """Build from an existing BatchNorm; every copy equals ``norm``.

        Args:
            norm (_BatchNorm): The BatchNorm to copy (config, parameters,
                running statistics, ``requires_grad`` and train/eval mode).
            frame_counts (Sequence[int]): Frame counts.
            active (int, optional): Count whose copy runs.
        """
        if not isinstance(norm, _BatchNorm):
            raise TypeError('RateSpecificBatchNorm copies a _BatchNorm, got '
                            f'{type(norm).__name__}')
        module = cls(norm.num_features, frame_counts, active=active)
        module._set_branches(norm, frame_counts, active)
        module.train(norm.training)
        return module

    def _set_branches(self, template: nn.Module, frame_counts,
                      active: Optional[int]) -> None:
        if not isinstance(template, _BatchNorm):
            raise TypeError('RateSpecificBatchNorm needs a BatchNorm config, '
                            f'got {type(template).__name__}')
        counts = check_frame_counts(frame_counts)
        self.branches = nn.ModuleDict(
            {str(count): copy.deepcopy(template)
             for count in counts})
        self.active = counts[-1] if active is None else active

    @property
    def num_features(self) -> int:
        """int: Number of channels (same in every copy)."""
        return self.branches[str(self._active)].num_features

    def branch(self, count: Optional[int] = None) -> _BatchNorm:
        """The BatchNorm of ``count`` (default: the active one)."""
        count = self._active if count is None else count
        return self.branches[str(count)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` with the active count's BatchNorm.

        A branch in eval mode with running statistics is applied as the
        ``F.batch_norm`` call its forward makes (same tensors, same
        numbers), without a second module call per norm: the Python work
        of a test forward then is that of the stock network.
        """
        bn = self._modules['branches']._modules[str(self._active)]
        # The branch's own call unless that call is exactly one
        # F.batch_norm: the stock forward, no hook that the module call
        # would run (its own or global ones) and no tracing (which names
        # the call's scope). Written out, not in a helper: at batch 1 each
        # extra Python call per norm shows in the forward time.
        if (bn.training or type(bn).forward is not _BATCH_NORM_FORWARD
                or bn._forward_hooks or bn._forward_pre_hooks
                or bn._backward_hooks or bn._backward_pre_hooks
                or _module_hooks._global_forward_hooks
                or _module_hooks._global_forward_pre_hooks
                or _module_hooks._global_backward_hooks
                or _module_hooks._global_backward_pre_hooks
                or torch._C._get_tracing_state()):
            return bn(x)
        buffers = bn._buffers
        mean, var = buffers.get('running_mean'), buffers.get('running_var')
        if mean is None or var is None:  # batch statistics in eval mode
            return bn(x)
        bn._check_input_dim(x)
        params = bn._parameters
        return F.batch_norm(x, mean, var, params.get('weight'),
                            params.get('bias'), False, 0.0, bn.eps)

    def to_static(self, count: Optional[int] = None) -> _BatchNorm:
        """A copy of the BatchNorm of ``count`` (default: the active one)."""
        return copy.deepcopy(self.branch(count))

    def extra_repr(self) -> str:
        return f'active={self._active}'
