"""Convert a checkpoint's state dict into an FFN backbone's.

Maps torchvision, ResNet, ResNetTSM, other stock and FFN checkpoints onto
FFN keys. Keys are compared in a canonical form, the plain MMAction2 ResNet
name, so a checkpoint of any of these layouts fills an FFN backbone; a
single BatchNorm fills every per-count copy.
"""
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

import torch

__all__ = ['PretrainedConversion', 'convert_pretrained_state_dict']


class PretrainedConversion(NamedTuple):
    """Outcome of :func:`convert_pretrained_state_dict`.

    Attributes:
        state_dict (OrderedDict): Tensors keyed like the target model.
        missing (list[str]): Target weights that must come from a checkpoint
            (convs, norms) but have no counterpart.
        optional_missing (list[str]): Target tensors without counterpart that
            may keep their init (adapters, ``num_batches_tracked``,
            non-local blocks).
        mismatched (list[str]): ``'key: checkpoint shape vs model shape'``.
        unexpected (list[str]): Backbone keys of the checkpoint left unused.
        ignored (list[str]): Classifier and other non-backbone keys.
    """
    state_dict: 'OrderedDict[str, torch.Tensor]'
    missing: List[str]
    optional_missing: List[str]
    mismatched: List[str]
    unexpected: List[str]
    ignored: List[str]


# torchvision ResNet names -> MMAction2 ResNet names (ConvModule conv/bn).
_TORCHVISION_RENAMES = (
    (re.compile(r'^conv1\.(weight|bias)$'), r'conv1.conv.\1'),
    (re.compile(r'^bn1\.(.+)$'), r'conv1.bn.\1'),
    (re.compile(r'^(layer\d+\.\d+)\.conv(\d+)\.(weight|bias)$'),
     r'\1.conv\2.conv.\3'),
    (re.compile(r'^(layer\d+\.\d+)\.bn(\d+)\.(.+)$'), r'\1.conv\2.bn.\3'),
    (re.compile(r'^(layer\d+\.\d+)\.downsample\.0\.(.+)$'),
     r'\1.downsample.conv.\2'),
    (re.compile(r'^(layer\d+\.\d+)\.downsample\.1\.(.+)$'),
     r'\1.downsample.bn.\2'),
)
# Path segments added by ResNetTSM's wrappers (TemporalShift.net,
# TemporalPool.net, NL3DWrapper.block); never part of a plain ResNet name.
_WRAPPER_SEGMENTS = frozenset({'net', 'block'})
# ``.branches.<T>`` inside a key, or ending it (a per-count parameter held
# directly in a ParameterDict, e.g. TimeSformer_FFN's ``time_embed``).
_BRANCH_SEGMENT = re.compile(r'\.branches\.\d+(?=\.|$)')
_IGNORED_PREFIXES = ('fc.', 'cls_head.', 'head.', 'neck.',
                     'data_preprocessor.')


def _canonical_key(key: str) -> str:
    """Plain MMAction2 ResNet name of a torchvision/ResNet/TSM/FFN key."""
    key = '.'.join(p for p in key.split('.') if p not in _WRAPPER_SEGMENTS)
    for pattern, replacement in _TORCHVISION_RENAMES:
        key, hits = pattern.subn(replacement, key)
        if hits:
            break
    return key


def _is_optional(canonical: str) -> bool:
    return ('.alteration.' in canonical
            or canonical.endswith('num_batches_tracked')
            or 'non_local_block' in canonical)


def _split_backbone(checkpoint) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """(backbone tensors, ignored keys) of a loaded checkpoint."""
    state_dict = checkpoint
    if isinstance(checkpoint, Mapping) and isinstance(
            checkpoint.get('state_dict'), Mapping):
        state_dict = checkpoint['state_dict']
    if not isinstance(state_dict, Mapping):
        raise ValueError('a checkpoint must be a state dict or a dict with a '
                         f'"state_dict", got {type(checkpoint).__name__}')
    tensors = {
        k[len('module.'):] if k.startswith('module.') else k: v
        for k, v in state_dict.items() if isinstance(v, torch.Tensor)
    }
    ignored = [
        k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)
    ]
    if any(k.startswith('backbone.') for k in tensors):
        # A whole recognizer: keep the backbone, skip head and the rest.
        ignored += [k for k in tensors if not k.startswith('backbone.')]
        tensors = {
            k[len('backbone.'):]: v
            for k, v in tensors.items() if k.startswith('backbone.')
        }
    else:
        ignored += [k for k in tensors if k.startswith(_IGNORED_PREFIXES)]
        tensors = {
            k: v
            for k, v in tensors.items() if not k.startswith(_IGNORED_PREFIXES)
        }
    return tensors, ignored


# resize(target key, checkpoint tensor, target shape): a tensor of the target
# shape made from one of another shape, or None.
Resize = Callable[[str, torch.Tensor, torch.Size], Optional[torch.Tensor]]


def convert_pretrained_state_dict(checkpoint,
                                  target: Mapping,
                                  resize: Optional[Resize] = None
                                  ) -> PretrainedConversion:
    """Map a ResNet/TSM/FFN checkpoint onto an FFN backbone's keys.

    Keys are compared in a canonical form (MMAction2 ResNet names without
    ResNetTSM's wrapper segments), so torchvision, ResNet, ResNetTSM (any
    shift place, temporal pool, non-local) and FFN checkpoints all map. A
    single BatchNorm fills every ``branches.<T>`` copy; an FFN checkpoint
    fills each copy (and adapter) from its own branch.

    Args:
        checkpoint (dict): A loaded checkpoint: a state dict, or an MMEngine
            checkpoint with ``state_dict`` (keys ``backbone.*`` are taken,
            other keys ignored).
        target (Mapping[str, Tensor]): The FFN backbone's ``state_dict()``.
        resize (Callable, optional): Called as ``resize(key, tensor,
            shape)`` for a checkpoint tensor whose shape differs from the
            target's ``shape``; returns the tensor to load (e.g. a
            count-shaped embedding resampled to the branch's count) or None
            (the key is then reported as mismatched). Defaults to None.

    Returns:
        PretrainedConversion: The converted state dict and a report.
    """
    source, ignored = _split_backbone(checkpoint)
    by_canonical = {_canonical_key(k): k for k in source}
    converted = OrderedDict()
    used = set()
    missing, optional_missing, mismatched = [], [], []
    for key, value in target.items():
        canonical = _canonical_key(key)
        # An FFN checkpoint has the branch itself; a vanilla one, one BN.
        source_key = by_canonical.get(canonical) or by_canonical.get(
            _BRANCH_SEGMENT.sub('', canonical))
        if source_key is None:
            (optional_missing
             if _is_optional(canonical) else missing).append(key)
            continue
        tensor = source[source_key]
        used.add(source_key)
        if tensor.shape != value.shape and resize is not None:
            resized = resize(key, tensor, value.shape)
            if resized is not None and resized.shape == value.shape:
                tensor = resized
        if tensor.shape != value.shape:
            mismatched.append(f'{key}: {tuple(tensor.shape)} in checkpoint vs '
                              f'{tuple(value.shape)} in model')
            continue
        converted[key] = tensor
    unexpected = [k for k in source if k not in used]
    return PretrainedConversion(converted, missing, optional_missing,
                                mismatched, unexpected, ignored)
