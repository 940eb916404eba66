"""Convert recognizer model configs: a stock MMAction2 one to its FFN
version, and an FFN one to the stock model computing it at one frame count.

Both read the table of :mod:`mmffn.models.families`; an unsupported backbone
gets an error naming the supported ones::

    _base_ = 'mmaction::recognition/tsm/tsm_imagenet-pretrained-r50_...py'
    from mmffn.apis import frame_flexible_model
    model = frame_flexible_model(_base_.model, (4, 8, 16))
"""
import copy
import inspect
from typing import Sequence

from ..models.families import (FAMILIES, FFN_BACKBONE_KEYS,
                               FFN_RECOGNIZER_KEYS, FFN_RECOGNIZERS,
                               NOT_FRAME_FLEXIBLE)
from ..utils import check_frame_count, check_frame_counts

__all__ = ['frame_flexible_model', 'stock_model']


def _default_counts(ffn_type: str) -> tuple:
    """The backbone's own default ``num_segments_list``."""
    from mmaction.registry import MODELS
    signature = inspect.signature(MODELS.get(ffn_type).__init__)
    return tuple(signature.parameters['num_segments_list'].default)


def _supported() -> str:
    return ', '.join(sorted(FAMILIES))


# Heads whose weights are shaped by the count, and their FFN versions (one
# copy per trained count, see mmffn/models/heads/); these take the trained
# counts as ``num_segments_list`` and deploy only at a trained count.
FFN_HEADS = {'TRNHead': 'TRNHead_FFN'}


def _frame_flexible_head(head, counts: tuple):
    """The FFN version of a count-shaped head config; others unchanged."""
    if head is None or head.get('type') not in FFN_HEADS:
        return head
    # The stock count is where every copy starts from (a stock checkpoint's).
    return dict(head, type=FFN_HEADS[head['type']], num_segments_list=counts)


def _stock_head(head, frames: int):
    """The stock version of an FFN head config at a trained count ``frames``
    (a ValueError for any other); others unchanged."""
    by_ffn_type = {ffn: stock for stock, ffn in FFN_HEADS.items()}
    if head is None or head.get('type') not in by_ffn_type:
        return head
    head = dict(head)
    counts = tuple(
        head.pop('num_segments_list', _default_counts(head['type'])))
    if frames not in counts:
        raise ValueError(
            f'{head["type"]} has weights shaped by the frame count, so only a '
            f'trained count deploys as a stock {by_ffn_type[head["type"]]}: '
            f'got {frames}, trained {counts}')
    head['type'] = by_ffn_type[head['type']]
    return head


def _why_not(model_type) -> str:
    """': <reason>' where a model type has a known reason not to be
    frame flexible, else ''."""
    reason = NOT_FRAME_FLEXIBLE.get(model_type)
    return f' ({reason})' if reason else ''


def _with_head_segments(head, num_segments: int):
    """A head config pooling over ``num_segments`` (TSMHead and any head that
    names ``num_segments``); others unchanged."""
    if head is None:
        return None
    head = dict(head)
    if 'num_segments' in head or head.get('type') == 'TSMHead':
        head['num_segments'] = num_segments
    return head


def frame_flexible_model(model: dict, frame_counts: Sequence[int],
                         **backbone_args) -> dict:
    """The FFN version of an MMAction2 ``Recognizer2D``/``Recognizer3D``
    model config.

    The recognizer becomes ``RecognizerFFN`` (``RecognizerFFN3D``), the
    backbone its frame-flexible version with
    ``num_segments_list=frame_counts`` (tested by default at the highest
    count), a head that pools over ``num_segments`` pools over the highest
    count, a head with weights shaped by the count (``TRNHead``) becomes
    its FFN version (one copy per count, each started from the stock one
    at the highest count); everything else (depth, head, neck, data
    preprocessor, test_cfg) stays as configured.

    Args:
        model (dict): The stock model config (e.g. ``_base_.model``); not
            modified.
        frame_counts (Sequence[int]): Trained counts, e.g. ``(4, 8, 16)``
            (for SlowFast, the slow pathway's).
        **backbone_args: Backbone arguments to set as well, e.g. a local
            ``pretrained`` file (nothing is downloaded at run time).

    Returns:
        dict: The FFN model config.
    """
    counts = check_frame_counts(frame_counts, 'frame_counts')
    model = copy.deepcopy(dict(model))
    if model.get('type') not in FFN_RECOGNIZERS:
        raise ValueError(
            'frame_flexible_model converts a config of one of '
            f'{sorted(FFN_RECOGNIZERS)}, got type={model.get("type")!r}'
            f'{_why_not(model.get("type"))}')
    backbone = dict(model.get('backbone') or {})
    family = FAMILIES.get(backbone.get('type'))
    if family is None:
        raise ValueError(
            f'Backbone {backbone.get("type")!r} has no frame-flexible '
            f'version{_why_not(backbone.get("type"))}; supported: '
            f'{_supported()}')
    if model['type'] != family.recognizer:
        raise ValueError(
            f'{backbone["type"]} belongs in a {family.recognizer} config, '
            f'got type={model["type"]!r}')
    backbone.update(
        type=family.ffn_type,
        num_segments_list=counts,
        num_segments=counts[-1],
        **backbone_args)
    model.update(type=FFN_RECOGNIZERS[model['type']], backbone=backbone)
    head = _with_head_segments(
        _frame_flexible_head(model.get('cls_head'), counts), counts[-1])
    if head is not None:
        model['cls_head'] = head
    return model


def stock_model(model: dict, frames: int) -> dict:
    """The stock recognizer config computing an FFN model at T frames.

    Args:
        model (dict): An FFN model config (``RecognizerFFN`` or
            ``RecognizerFFN3D`` with a frame-flexible backbone).
        frames (int): Frames per clip T.

    Returns:
        dict: ``Recognizer2D`` with the stock backbone at ``num_segments=T``
        (``Recognizer3D`` with the stock 3D backbone, which reads T from the
        clip), loading no weights of its own, and the same head (pooling
        over T; an FFN head its stock version, at a trained T only), neck,
        data preprocessor and test_cfg.
    """
    frames = check_frame_count(frames, 'frames')
    model = copy.deepcopy(dict(model))
    backbone = dict(model.get('backbone') or {})
    by_ffn_type = {f.ffn_type: (stock, f) for stock, f in FAMILIES.items()}
    if model.get('type') not in FFN_RECOGNIZERS.values() or backbone.get(
            'type') not in by_ffn_type:
        raise ValueError(
            'Expected an FFN model config (one of '
            f'{sorted(FFN_RECOGNIZERS.values())} with one of the backbones '
            f'{sorted(by_ffn_type)}), got {model.get("type")!r} with '
            f'backbone {backbone.get("type")!r}')
    stock_type, family = by_ffn_type[backbone['type']]
    counts = tuple(
        backbone.get('num_segments_list', _default_counts(family.ffn_type)))
    if not family.any_count and frames not in counts:
        raise ValueError(
            f'{backbone["type"]} has weights shaped by the frame count, so '
            f'only a trained count deploys as a stock {stock_type}: got '
            f'{frames}, trained {counts}')
    for key in FFN_RECOGNIZER_KEYS:
        model.pop(key, None)
    for key in FFN_BACKBONE_KEYS + family.ffn_only_args:
        backbone.pop(key, None)
    # The weights come from the checkpoint; nothing may be loaded over them.
    backbone.update(type=stock_type, **family.no_loading)
    if family.frames_arg is not None:
        backbone[family.frames_arg] = frames
    backbone.pop('init_cfg', None)
    model.update(type=family.recognizer, backbone=backbone)
    head = _with_head_segments(
        _stock_head(model.get('cls_head'), frames), frames)
    if head is not None:
        model['cls_head'] = head
    return model
