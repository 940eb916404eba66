"""TSM's parameter groups for FFN models."""
from typing import List

import torch.nn as nn
from mmaction.engine.optimizers import TSMOptimWrapperConstructor
from mmaction.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.model import is_model_wrapper
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from ..models.layers import AlterationWeight


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class FFNOptimWrapperConstructor(TSMOptimWrapperConstructor):
    """MMAction2's TSM parameter policy, aware of FFN's modules.

    The groups are those of ``TSMOptimWrapperConstructor``: first conv,
    other conv/linear weights (base lr, weight decay), their biases (2x lr,
    no decay), norms (no decay), and with ``fc_lr5`` the classifier weight
    at 5x lr and its bias at 10x lr. FFN's weight-alteration adapters are
    depthwise 1x1 conv weights and join the conv weights, as in the FFN
    paper's code; every rate-specific BatchNorm copy joins the norms.

    The upstream constructor cannot be used as is: it reads a conv's
    parameters recursively, so an adapter nested in a
    :class:`WeightAlteredConv2d` would be taken for the conv's bias (one
    frame count) or dropped, and it refuses the adapter module itself.
    This one also refuses to drop any trainable parameter silently.
    """

    def add_params(self, params: List[dict], model: nn.Module,
                   **kwargs) -> None:
        if is_model_wrapper(model):
            model = model.module
        fc_lr5 = self.paramwise_cfg['fc_lr5']
        groups = dict(
            first_conv_weight=[],
            first_conv_bias=[],
            normal_weight=[],
            normal_bias=[],
            norm=[])
        first_conv_seen = False
        for module in model.modules():
            if isinstance(module, AlterationWeight):
                groups['normal_weight'].append(module.weight)
            elif isinstance(module, (_ConvNd, nn.Linear)):
                is_first = isinstance(module, _ConvNd) and not first_conv_seen
                first_conv_seen |= isinstance(module, _ConvNd)
                prefix = 'first_conv' if is_first else 'normal'
                groups[f'{prefix}_weight'].append(module.weight)
                if module.bias is not None:
                    groups[f'{prefix}_bias'].append(module.bias)
            elif isinstance(module, (_BatchNorm, nn.GroupNorm, nn.LayerNorm)):
                groups['norm'].extend(
                    p for p in module.parameters(recurse=False)
                    if p.requires_grad)
        if not groups['normal_weight'] or not groups['normal_bias']:
            raise ValueError('FFNOptimWrapperConstructor expects a model '
                             'ending in a linear classifier with a bias.')
        # The classifier is the last linear layer, as upstream assumes; as
        # upstream, without fc_lr5 it joins the other weights and the x5 /
        # x10 groups stay empty.
        fc_weight = [groups['normal_weight'].pop()]
        fc_bias = [groups['normal_bias'].pop()]
        if not fc_lr5:
            groups['normal_weight'] += fc_weight
            groups['normal_bias'] += fc_bias
            fc_weight, fc_bias = [], []
        lr, wd = self.base_lr, self.base_wd
        params += [
            dict(params=groups['first_conv_weight'], lr=lr, weight_decay=wd),
            dict(params=groups['first_conv_bias'], lr=lr * 2, weight_decay=0),
            dict(params=groups['normal_weight'], lr=lr, weight_decay=wd),
            dict(params=groups['normal_bias'], lr=lr * 2, weight_decay=0),
            dict(params=groups['norm'], lr=lr, weight_decay=0),
            dict(params=fc_weight, lr=lr * 5, weight_decay=wd),
            dict(params=fc_bias, lr=lr * 10, weight_decay=0),
        ]
        self._check_every_parameter_grouped(params, model)

    @staticmethod
    def _check_every_parameter_grouped(params: List[dict],
                                       model: nn.Module) -> None:
        grouped = [id(p) for group in params for p in group['params']]
        if len(grouped) != len(set(grouped)):
            raise ValueError('A parameter landed in two optimizer groups.')
        left = [
            name for name, p in model.named_parameters()
            if p.requires_grad and id(p) not in set(grouped)
        ]
        if left:
            raise ValueError('FFNOptimWrapperConstructor has no group for '
                             f'these trainable parameters: {left[:10]}')


__all__ = ['FFNOptimWrapperConstructor']
