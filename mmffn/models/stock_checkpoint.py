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
import re
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint

from ..utils.config_literals import read_config_literals

__all__ = ['checkpoint_frames', 'stock_state_dict', 'load_stock_checkpoint']

# ``.branches.<T>`` / ``.alteration.<T>`` inside or ending a key.
_VARIANT = re.compile(r'\.branches\.\d+(?=\.|$)')
_ADAPTER = re.compile(r'\.alteration\.\d+\.weight$')


def _stock_key(key: str) -> Optional[str]:
    """The stock model's name of an FFN tensor, or None for an adapter."""
    if _ADAPTER.search(key):
        return None
    return _VARIANT.sub('', key)


def checkpoint_frames(checkpoint: dict) -> Optional[int]:
    """The frame count a stock 2D checkpoint was trained at, from the config
    MMEngine saves in its ``meta`` (``model.backbone.num_segments``); None
    when the checkpoint does not say.

    The config text is read as data (:func:`read_config_literals`), never
    executed: a checkpoint may come from anywhere.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    text = meta.get('cfg') if isinstance(meta, dict) else None
    if not isinstance(text, str):
        return None
    model = read_config_literals(text).get('model')
    backbone = model.get('backbone') if isinstance(model, dict) else None
    frames = backbone.get('num_segments') if isinstance(backbone,
                                                        dict) else None
    if isinstance(frames, bool) or not isinstance(frames, int):
        return None
    return frames


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
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    if not isinstance(checkpoint, dict):
        raise ValueError(f'{filename} holds a {type(checkpoint).__name__}, '
                         'not a checkpoint (a dict of tensors or with a '
                         '"state_dict")')
    logger = MMLogger.get_current_instance()
    frames = checkpoint_frames(checkpoint)
    if frames is not None and frames != highest:
        raise ValueError(
            f'{filename} was trained at {frames} frames (num_segments of '
            'the config saved in it), but the FFN model\'s highest count, '
            f'the teacher, is {highest}. Make {frames} the highest of the '
            'frame counts.')
    if frames is None:
        logger.warning(
            f'{filename} does not say which frame count it was trained at '
            '(no model config in its meta); it is taken to be the highest '
            f'count, {highest}.')
    stock = checkpoint.get('state_dict', checkpoint)
    model.load_state_dict(
        stock_state_dict(model, stock, filename,
                         getattr(model, 'backbone', None)))
    logger.info(f'Every frame count of {type(model).__name__} starts from '
                f'{filename} ({frames or highest} frames): norms copied, '
                'adapters zero.')
