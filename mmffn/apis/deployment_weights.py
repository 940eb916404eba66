"""The deployed weights: one FFN branch folded into the stock model's state
dict, the models built with them and compared, and the checkpoint's meta.
"""
import logging
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint_to_model

from ..models.backbones import FrameFlexible3DMixin
from ..models.layers import to_static
from ..utils import check_frame_count
from .model_config import stock_model

__all__ = [
    'fold_branch_state_dict', 'deployed_meta', 'build_ffn', 'build_deployed',
    'compare_outputs'
]

# Checkpoint meta values kept as they are: what torch.load(weights_only=True)
# reads without any registered global, as plain MMAction2 loads it.
_PLAIN_TYPES = (str, int, float, bool, type(None))


def fold_branch_state_dict(model: nn.Module,
                           frames: int) -> 'OrderedDict[str, torch.Tensor]':
    """State dict of the stock model that computes ``model`` at T frames.

    Args:
        model (nn.Module): A ``RecognizerFFN`` or ``RecognizerFFN3D``.
        frames (int): Frames per clip T; its branch follows the backbone's
            ``branch_policy``.

    Returns:
        OrderedDict: Keys of the stock recognizer (e.g.
        ``Recognizer2D(ResNetTSM, TSMHead)``): the shared convs (folded ones
        for the altered convs), the branch's norms and the head.
    """
    frames = check_frame_count(frames, 'frames')
    folded = to_static(model, model.backbone.branch_for(frames))
    return OrderedDict((key, value.detach().clone())
                       for key, value in folded.state_dict().items())


_DROP = object()  # what _plain returns for a value to leave out


def _plain(value):
    """``value`` if torch loads it with weights_only=True unaided, else
    ``_DROP``."""
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        items = [_plain(v) for v in value]
        return _DROP if any(i is _DROP for i in items) else type(value)(items)
    if isinstance(value, dict):
        items = {k: _plain(v) for k, v in value.items()}
        if all(isinstance(k, str)
               for k in items) and not any(v is _DROP for v in items.values()):
            return items
    return _DROP


def deployed_meta(meta: Optional[dict], frames: int, branch: int, counts,
                  config_text: str, source: str) -> Dict:
    """Checkpoint meta: the plain part of the FFN meta plus where it came
    from; ``cfg`` is the deployed config so that it describes the weights.
    """
    kept = {}
    for key, value in (meta or {}).items():
        value = _plain(value)
        if value is not _DROP:
            kept[key] = value
    kept['cfg'] = config_text
    kept['ffn_deploy'] = dict(
        frames=frames,
        branch=branch,
        num_segments_list=list(counts),
        source_checkpoint=source)
    return kept


# MMAction2's TPNHead creates ``new_cls`` (its fcn_test classifier, a copy
# of fc_cls) at its first test forward, so checkpoints saved after a
# validation hold it while a freshly built model has none. The only keys a
# strict load lets through; they are dropped, and the head makes them again.
_ADDED_AT_TEST = ('cls_head.new_cls.weight', 'cls_head.new_cls.bias')


def _without_test_time_layers(model: nn.Module, checkpoint: dict) -> dict:
    """``checkpoint`` without the keys of :data:`_ADDED_AT_TEST` that
    ``model`` has not created yet, each dropped key logged."""
    if getattr(getattr(model, 'cls_head', None), 'new_cls', 0) is not None:
        return checkpoint
    state = checkpoint.get('state_dict', checkpoint)
    # 'module.': MMEngine's loader strips it from DDP keys, so match here too.
    dropped = [
        k for k in state if k in _ADDED_AT_TEST
        or k.startswith('module.') and k[len('module.'):] in _ADDED_AT_TEST
    ]
    if not dropped:
        return checkpoint
    print_log(
        f'Dropped {", ".join(dropped)} from the checkpoint: the '
        f'{type(model.cls_head).__name__} classifier its first fcn_test '
        'forward adds (a copy of fc_cls), which a new model makes again.',
        logger='current',
        level=logging.WARNING)
    state = OrderedDict((k, v) for k, v in state.items() if k not in dropped)
    if 'state_dict' in checkpoint:
        return dict(checkpoint, state_dict=state)
    return state


def build_ffn(cfg: Config, checkpoint: Optional[dict] = None) -> nn.Module:
    """The FFN recognizer of ``cfg`` in eval mode, with ``checkpoint``.

    ``init_weights`` is not called: the checkpoint provides every weight and
    the config's ImageNet file need not exist here.

    Args:
        cfg (Config): The FFN config.
        checkpoint (dict, optional): A loaded checkpoint (a state dict or a
            dict with ``state_dict``); every model key must be in it, and
            nothing else but a TPNHead's ``cls_head.new_cls`` (dropped).
    """
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        # MMEngine's loader, which also strips the 'module.' of DDP keys.
        _load_checkpoint_to_model(
            model, _without_test_time_layers(model, checkpoint), strict=True)
    return model.eval()


def build_deployed(model: nn.Module, model_cfg: dict,
                   frames: int) -> nn.Module:
    """The stock MMAction2 model computing ``model`` at T (in memory).

    Args:
        model (nn.Module): The FFN recognizer.
        model_cfg (dict): Its model config.
        frames (int): Frames per clip T.

    Returns:
        nn.Module: The stock recognizer in eval mode with the folded
        weights.
    """
    deployed = MODELS.build(stock_model(model_cfg, frames))
    # strict: any key FFN and the stock model disagree on is a bug here.
    deployed.load_state_dict(
        fold_branch_state_dict(model, frames), strict=True)
    return deployed.eval()


@torch.no_grad()
def _clip_size(backbone: nn.Module) -> Tuple[int, int]:
    """(H, W) of the comparison clip: the input size a backbone with a fixed
    patch grid was built for (TimeSformer's ``patch_embed.img_size``,
    UniFormerV2's ``input_resolution``), else 64 x 64, which every
    convolutional family takes."""
    size = getattr(
        getattr(backbone, 'patch_embed', None), 'img_size',
        getattr(backbone, 'input_resolution', 64))
    return tuple(size) if isinstance(size, (tuple, list)) else (size, size)


def compare_outputs(model: nn.Module,
                    deployed: nn.Module,
                    frames: int,
                    size: Optional[int] = None,
                    seed: int = 0) -> Dict[str, float]:
    """Head outputs of FFN and the deployed model on one random clip.

    Both run in eval mode on ``(1, T, 3, H, W)``, or for a 3D backbone
    ``(1, 1, 3, input_frames(T), H, W)``.

    Args:
        size (int, optional): ``H = W``. Defaults to None: the size the
            backbone was built for where its patch grid is fixed, else 64.

    Returns:
        dict: ``max_abs_diff`` and ``max_abs_output`` (of FFN, for scale).
    """
    generator = torch.Generator().manual_seed(seed)
    height, width = _clip_size(model.backbone) if size is None else (size,
                                                                     size)
    if isinstance(model.backbone, FrameFlexible3DMixin):
        shape = (1, 1, 3, model.backbone.input_frames(frames), height, width)
    else:
        shape = (1, frames, 3, height, width)
    clip = torch.randn(*shape, generator=generator)
    clip = clip.to(next(model.parameters()).device)
    modes = model.training, deployed.training
    model.eval()
    deployed.eval()
    try:
        expected = model(clip, mode='tensor', stage='head')
        actual = deployed(clip, mode='tensor', stage='head')
    finally:
        model.train(modes[0])
        deployed.train(modes[1])
    return dict(
        max_abs_diff=(expected - actual).abs().max().item(),
        max_abs_output=expected.abs().max().item())
