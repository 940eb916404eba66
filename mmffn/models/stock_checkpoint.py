"""Fill an FFN model from a checkpoint of the stock model it converts.

Every count's variant of a layer (norm copy, time embedding) starts from the
stock layer, the adapters start at zero, and every other weight (convs,
head) is the stock weight: each count's branch then computes exactly what
the stock model computes, the starting point of label-free conversion
(``RecognizerFFN(stock_checkpoint=...)``).

Unlike a plain ``load_from`` (non-strict: unmatched weights are only
warned about), nothing may be left over on either side: a checkpoint of
another architecture is an error naming what does not fit.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint

from ..utils.config_literals import read_config_literals
from .families import input_frames_per_count

__all__ = [
    'saved_config', 'checkpoint_frames', 'check_backbone_arguments',
    'stock_state_dict', 'load_stock_checkpoint'
]

# ``.branches.<T>`` / ``.alteration.<T>`` inside or ending a key.
_VARIANT = re.compile(r'\.branches\.\d+(?=\.|$)')
_ADAPTER = re.compile(r'\.alteration\.\d+\.weight$')


def _stock_key(key: str) -> Optional[str]:
    """The stock model's name of an FFN tensor, or None for an adapter."""
    if _ADAPTER.search(key):
        return None
    return _VARIANT.sub('', key)


def saved_config(checkpoint: dict) -> Optional[dict]:
    """The literal assignments of the config MMEngine saved in the
    checkpoint's ``meta['cfg']`` (read as data, never executed:
    :func:`read_config_literals`), or None when it saved none."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    text = meta.get('cfg') if isinstance(meta, dict) else None
    return read_config_literals(text) if isinstance(text, str) else None


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _training_clip_len(config: dict) -> Optional[int]:
    """``clip_len`` of the sampler of the saved training pipeline
    (``train_dataloader.dataset[.dataset...].pipeline``, else
    ``train_pipeline``)."""
    dataset = (config.get('train_dataloader') or {}).get('dataset')
    pipeline = None
    while isinstance(dataset, dict) and pipeline is None:
        pipeline = dataset.get('pipeline')
        dataset = dataset.get('dataset')  # RepeatDataset and the like
    if not isinstance(pipeline, (list, tuple)):
        pipeline = config.get('train_pipeline')
    if not isinstance(pipeline, (list, tuple)):
        return None
    lens = [
        step.get('clip_len') for step in pipeline
        if isinstance(step, dict) and step.get('type') in ('SampleFrames',
                                                           'UniformSample')
    ]
    return lens[0] if len(lens) == 1 and _is_int(lens[0]) else None


def checkpoint_frames(checkpoint: dict) -> Optional[int]:
    """The frame count a stock checkpoint was trained at, from the config
    MMEngine saves in its ``meta``: ``model.backbone.num_segments`` of a 2D
    model, the ``clip_len`` its training pipeline samples (over SlowFast's
    ``resample_rate``) of a ``Recognizer3D``; None when the config does
    not say.
    """
    config = saved_config(checkpoint) or {}
    model = config.get('model')
    if not isinstance(model, dict):
        return None
    backbone = model.get('backbone')
    backbone = backbone if isinstance(backbone, dict) else {}
    if model.get('type') != 'Recognizer3D' and 'num_segments' in backbone:
        frames = backbone['num_segments']
        return frames if _is_int(frames) else None
    clip_len = _training_clip_len(config)
    if model.get('type') != 'Recognizer3D' or clip_len is None:
        return None
    try:
        per_count = input_frames_per_count(model)
    except (TypeError, ValueError):
        return None
    return clip_len // per_count if clip_len % per_count == 0 else None


#: Stock backbone arguments that change what the model computes without
#: changing any weight's shape, so that the shape check cannot see them.
FUNCTION_ARGUMENTS = ('is_shift', 'shift_div', 'shift_place', 'temporal_pool',
                      'non_local', 'non_local_cfg', 'conv1_stride_t',
                      'pool1_stride_t', 'with_pool1', 'with_pool2',
                      'temporal_strides', 'resample_rate', 'speed_ratio',
                      'attention_type', 'tam_cfg')


def _as_data(value):
    """Lists as tuples (a saved config writes either), recursively."""
    if isinstance(value, (list, tuple)):
        return tuple(_as_data(item) for item in value)
    if isinstance(value, dict):
        return {key: _as_data(item) for key, item in value.items()}
    return value


def _default(backbone: nn.Module, saved_type, name: str):
    """The default of argument ``name`` of the saved backbone's class (else
    of the model's backbone class); ``inspect.Parameter.empty`` if none."""
    import inspect

    from mmaction.registry import MODELS
    classes = [MODELS.get(saved_type)] if isinstance(saved_type, str) else []
    for cls in [c for c in classes if c] + list(type(backbone).__mro__):
        try:
            parameter = inspect.signature(cls.__init__).parameters.get(name)
        except (TypeError, ValueError):
            continue
        if parameter is not None and parameter.kind in (
                parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            return parameter.default
    return inspect.Parameter.empty


def check_backbone_arguments(backbone: nn.Module, saved: dict,
                             filename: str) -> None:
    """Raise if the backbone config saved with a stock checkpoint differs
    from ``backbone`` in an argument of :data:`FUNCTION_ARGUMENTS` (e.g. a
    TSM trained with ``shift_div=4`` loaded into a ``shift_div=8`` model:
    every weight fits, the function differs)."""
    import inspect
    differ = []
    for name in FUNCTION_ARGUMENTS:
        if not hasattr(backbone, name):
            continue
        value = saved[name] if name in saved else _default(
            backbone, saved.get('type'), name)
        if value is inspect.Parameter.empty:
            continue
        if _as_data(value) != _as_data(getattr(backbone, name)):
            differ.append(f'{name}={value!r} in the checkpoint\'s config vs '
                          f'{name}={getattr(backbone, name)!r} in the model')
    if differ:
        raise ValueError(
            f'{filename} was trained with other backbone arguments than this '
            'FFN model has: ' + '; '.join(differ) + '. Its weights would '
            'load but compute another function; set the same values in '
            'the FFN config\'s model.backbone.')


def stock_state_dict(model: nn.Module,
                     stock: dict,
                     filename: str,
                     backbone: Optional[nn.Module] = None) -> OrderedDict:
    """``model``'s state dict filled from a stock state dict.

    Args:
        model (nn.Module): The FFN recognizer.
        stock (dict): The stock recognizer's state dict.
        filename (str): For errors.
        backbone (nn.Module, optional): Asked through its
            ``_resize_pretrained`` hook for a tensor whose shape depends on
            the count (TimeSformer's time embedding).

    Returns:
        OrderedDict: A complete state dict for ``model``.
    """
    stock = {(k[len('module.'):] if k.startswith('module.') else k): v
             for k, v in stock.items()}
    filled, used = OrderedDict(), set()
    missing, mismatched = [], []
    for key, value in model.state_dict().items():
        source = _stock_key(key)
        if source is None:
            filled[key] = torch.zeros_like(value)
            continue
        if source not in stock:
            missing.append(key)
            continue
        used.add(source)
        tensor = stock[source]
        if (tensor.shape != value.shape and backbone is not None
                and key.startswith('backbone.')):
            resized = backbone._resize_pretrained(key[len('backbone.'):],
                                                  tensor, value.shape)
            tensor = tensor if resized is None else resized
        if tensor.shape != value.shape:
            mismatched.append(f'{key}: {tuple(tensor.shape)} in the checkpoint'
                              f' vs {tuple(value.shape)} in the model')
            continue
        filled[key] = tensor.to(value.dtype)
    unused = [k for k in stock if k not in used]
    if missing or mismatched or unused:
        details = [
            f'{len(found)} {what} (e.g. {found[:3]})'
            for found, what in ((missing, 'model weights it lacks'),
                                (mismatched, 'weights of another shape'),
                                (unused, 'weights the model has no place for'))
            if found
        ]
        raise ValueError(
            f'{filename} is not a checkpoint of the stock model this FFN '
            f'model converts ({type(model).__name__} with '
            f'{type(backbone).__name__ if backbone is not None else "?"}): ' +
            '; '.join(details) + '. Use a checkpoint trained with the '
            'same architecture (depth, TSM options, head, number of classes).')
    return filled


def _refuse_ffn_checkpoint(state_dict: dict, filename: str) -> None:
    """An FFN checkpoint (per-count copies) is no stock checkpoint."""
    ffn_keys = [
        k for k in state_dict
        if isinstance(k, str) and (_VARIANT.search(k) or _ADAPTER.search(k))
    ]
    if ffn_keys:
        raise ValueError(
            f'{filename} is a checkpoint of an FFN model (per-count weights '
            f'such as {ffn_keys[0]!r}), not of the stock model that '
            'stock_checkpoint converts. To start from it, give it as '
            'load_from (or resume from it) and set '
            'model.stock_checkpoint=None.')


def load_stock_checkpoint(model: nn.Module, filename: str,
                          highest: int) -> None:
    """Load a stock recognizer checkpoint into every count of ``model``.

    Args:
        model (nn.Module): The FFN recognizer (``model.backbone`` frame
            flexible).
        filename (str): A local MMEngine checkpoint of the stock model.
        highest (int): The FFN model's highest count, which must be the
            count the checkpoint was trained at when the checkpoint says.
    """
    if '://' not in filename and not osp.isfile(filename):
        raise FileNotFoundError(
            f'stock_checkpoint {filename!r} does not exist (moved or '
            'deleted?). Give its new path with --cfg-options '
            'model.stock_checkpoint=PATH; when resuming (--resume), the '
            'resumed checkpoint restores every weight, so '
            'model.stock_checkpoint=None also works.')
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{filename} holds a {type(checkpoint).__name__}, '
                         'not a checkpoint (a dict of tensors or with a '
                         '"state_dict")')
    meta = checkpoint.get('meta')
    if 'state_dict' in checkpoint and meta is not None and not isinstance(
            meta, dict):
        raise ValueError(
            f"{filename}'s meta is a {type(meta).__name__}, not a dict "
            "(MMEngine saves a dict with the run's config under 'cfg'); "
            "save the checkpoint with meta=dict(...) or without 'meta'.")
    stock = checkpoint.get('state_dict', checkpoint)
    _refuse_ffn_checkpoint(stock, filename)
    logger = MMLogger.get_current_instance()
    frames = checkpoint_frames(checkpoint)
    if frames is not None and frames != highest:
        raise ValueError(
            f'{filename} was trained at {frames} frames (num_segments, or '
            'the clip_len its training pipeline samples, in the config '
            'saved in it), but the FFN model\'s highest count, the teacher, '
            f'is {highest}. Make {frames} the highest of the frame counts.')
    config = saved_config(checkpoint)
    if frames is None:
        why = ('no config in its meta' if config is None else
               'its saved config names neither model.backbone.num_segments '
               'nor a clip_len of its training sampler')
        logger.warning(
            f'{filename} does not say which frame count it was trained at '
            f'({why}); it is taken to be the highest count, {highest}.')
    model_cfg = (config or {}).get('model')
    saved_backbone = model_cfg.get('backbone') if isinstance(model_cfg,
                                                             dict) else None
    if isinstance(saved_backbone, dict) and hasattr(model, 'backbone'):
        check_backbone_arguments(model.backbone, saved_backbone, filename)
    model.load_state_dict(
        stock_state_dict(model, stock, filename,
                         getattr(model, 'backbone', None)))
    logger.info(f'Every frame count of {type(model).__name__} starts from '
                f'{filename} ({frames or highest} frames): norms copied, '
                'adapters zero.')
