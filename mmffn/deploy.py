"""Deploy one frame count of an FFN model as its stock MMAction2 model.

An FFN checkpoint holds one sub-network per trained frame count. At a fixed
frame count T only one of them runs, and it is the stock model (a plain TSM
for ``ResNetTSM_FFN``; every backbone of
:data:`mmffn.models.model_conversion.FAMILIES` likewise):

* the branch is ``backbone.branch_for(T)`` (T itself when it was trained,
  the nearest trained count under ``branch_policy='nearest'``);
* every rate-specific layer becomes its static module of that branch
  (``to_static``): a weight-altered conv an ``nn.Conv2d`` with the adapter
  folded in, ``W * (1 + w)``, a rate-specific BatchNorm the branch's own;
* the temporal modules and the head use the real T (``num_segments=T``).

The result is a config for MMAction2's ``Recognizer2D`` (``Recognizer3D``
for 3D backbones, where a weight-altered conv becomes an ``nn.Conv3d``) with
the stock backbone and head, and a checkpoint whose keys are those of that
model, so both load with plain MMAction2 (no ``custom_imports`` of mmffn)::

    from mmffn.deploy import deploy
    result = deploy('configs/ffn_tsm_r50_ssv2.py', 'epoch_50.pth',
                    frames=8, out_dir='deployed/')

``tools/deploy.py`` is the command-line front end.
"""
import copy
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, NamedTuple, Optional, Set, Union

import torch
import torch.nn as nn
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import (_load_checkpoint,
                                        _load_checkpoint_to_model)

from .datasets.pipeline_conversion import (fixed_frames_loader,
                                           fixed_frames_pipeline)
from .models.backbones import FrameFlexible3DMixin
from .models.layers import to_static
from .models.model_conversion import stock_model
from .utils import check_frame_count

# Training needs mmffn (MultiRateSampleFrames, FFNOptimWrapperConstructor)
# and makes no sense for a single frame count: the deployed config tests.
TRAINING_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper',
                 'param_scheduler', 'auto_scale_lr', 'train_pipeline')
# Checkpoint meta values kept as they are: what torch.load(weights_only=True)
# reads without any registered global, as plain MMAction2 loads it.
_PLAIN_TYPES = (str, int, float, bool, type(None))


class DeployResult(NamedTuple):
    """What :func:`deploy` wrote.

    Attributes:
        config (str): Path of the stock MMAction2 config.
        checkpoint (str): Path of the checkpoint.
        frames (int): Frames per clip of the deployed model.
        branch (int): The FFN branch (trained count) it was taken from.
        max_abs_diff (float, optional): Largest output difference between
            FFN and the deployed model on a random clip (None when not
            verified).
    """
    config: str
    checkpoint: str
    frames: int
    branch: int
    max_abs_diff: Optional[float]


# --- config ----------------------------------------------------------------
def _convert_loader(loader: dict, frames: int, frames_per_count: int) -> dict:
    converted = fixed_frames_loader(loader, frames, frames_per_count)
    converted.pop('_delete_', None)  # only meaningful when merging configs
    return converted


def _is_pipeline(value) -> bool:
    return isinstance(value, (list, tuple)) and any(
        isinstance(step, dict) and step.get('type') == 'SampleFrames'
        for step in value)


# mmffn transforms with a stock twin that gives the same output.
_STOCK_TWINS = {'UniqueDecordDecode': 'DecordDecode'}


def _mmffn_names() -> Set[str]:
    """Names of everything mmffn registers in MMAction2's registries
    (hooks, transforms, models, optimizer constructors...)."""
    import mmaction.registry as registries
    from mmengine.registry import Registry
    return {
        name
        for registry in vars(registries).values()
        if isinstance(registry, Registry)
        for name, obj in registry.module_dict.items()
        if (getattr(obj, '__module__', '') or '').split('.')[0] == 'mmffn'
    }


def _type_name(value) -> str:
    """A config ``type`` as a registered name: ``'mmaction.X'`` -> ``'X'``,
    a class -> its name."""
    if isinstance(value, type):
        return value.__name__
    return str(value).rsplit('.', 1)[-1]


def _use_stock_twins(value):
    """``value`` with every step of :data:`_STOCK_TWINS` replaced."""
    if isinstance(value, dict):
        value = {k: _use_stock_twins(v) for k, v in value.items()}
        twin = _STOCK_TWINS.get(_type_name(value.get('type')))
        if twin is not None:
            value['type'] = twin
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_use_stock_twins(v) for v in value)
    return value


def _names_mmffn_module(text: str) -> bool:
    # Module paths only: a data path such as '/data/mmffn/ssv2' is fine.
    return text == 'mmffn' or text.startswith('mmffn.')


def _mmffn_references(value, names: Set[str], path: str = 'cfg'):
    """``[(path, what)]`` for every part of ``value`` that needs mmffn: a
    ``type`` that mmffn registers, an mmffn module path or class."""
    found = []
    if isinstance(value, dict):
        kind = value.get('type')
        if kind is not None and (_type_name(kind) in names
                                 or _names_mmffn_module(str(kind))):
            found.append((f'{path}.type', repr(kind)))
        for key, item in value.items():
            if key != 'type':
                found += _mmffn_references(item, names, f'{path}.{key}')
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += _mmffn_references(item, names, f'{path}[{index}]')
    elif isinstance(value, str) and _names_mmffn_module(value):
        found.append((path, repr(value)))
    elif isinstance(value, type) and value.__module__.startswith('mmffn'):
        found.append((path, value.__name__))
    return found


def deployed_config(cfg: Config,
                    frames: int,
                    frames_per_count: int = 1) -> Config:
    """The config of an FFN experiment turned into a stock one at T.

    The model becomes ``model_conversion.stock_model``; validation and test
    pipelines sample T frames; ``custom_imports`` and the training parts
    (which need mmffn's sampler and optimizer constructor) are removed, as
    are mmffn's hooks in ``custom_hooks`` (``EpochSeedHook`` seeds training
    epochs; a test run does not need it), and ``UniqueDecordDecode``
    becomes ``DecordDecode`` (the same frames). Whatever else still names
    mmffn raises a ValueError: MMAction2 alone could not run the config.

    Args:
        cfg (Config): A loaded FFN config.
        frames (int): Frames per clip T.
        frames_per_count (int): Input frames per counted frame of a 3D
            backbone (``backbone.input_frames(1)``: SlowFast's
            ``resample_rate``). Defaults to 1.

    Returns:
        Config: A config that needs only MMAction2.
    """
    frames = check_frame_count(frames, 'frames')
    cfg_dict = copy.deepcopy(cfg.to_dict())
    cfg_dict.pop('custom_imports', None)
    for key in TRAINING_KEYS:
        cfg_dict.pop(key, None)
    cfg_dict['model'] = stock_model(cfg_dict['model'], frames)
    for key in ('val_dataloader', 'test_dataloader'):
        if cfg_dict.get(key):
            cfg_dict[key] = _convert_loader(cfg_dict[key], frames,
                                            frames_per_count)
    for key in ('val_pipeline', 'test_pipeline'):
        if _is_pipeline(cfg_dict.get(key)):
            cfg_dict[key] = fixed_frames_pipeline(cfg_dict[key], frames,
                                                  frames_per_count)
    # A list of FFN counts would mislead a reader of the deployed config.
    cfg_dict.pop('frame_counts', None)
    names = _mmffn_names()
    if cfg_dict.get('custom_hooks'):
        cfg_dict['custom_hooks'] = [
            hook for hook in cfg_dict['custom_hooks']
            if _type_name(hook.get('type')) not in names
        ]
    cfg_dict = _use_stock_twins(cfg_dict)
    left = _mmffn_references(cfg_dict, names)
    if left:
        raise ValueError(
            'The deployed config would still need mmffn, which stock '
            'MMAction2 cannot run: ' + ', '.join(f'{path} = {what}'
                                                 for path, what in left) +
            '. Replace these by MMAction2 modules in the FFN config '
            '(or remove them) and deploy again.')
    return Config(cfg_dict)


# --- weights ---------------------------------------------------------------
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


# --- whole models ----------------------------------------------------------
def build_ffn(cfg: Config, checkpoint: Optional[dict] = None) -> nn.Module:
    """The FFN recognizer of ``cfg`` in eval mode, with ``checkpoint``.

    ``init_weights`` is not called: the checkpoint provides every weight and
    the config's ImageNet file need not exist here.

    Args:
        cfg (Config): The FFN config.
        checkpoint (dict, optional): A loaded checkpoint (a state dict or a
            dict with ``state_dict``); every model key must be in it.
    """
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        # MMEngine's loader, which also strips the 'module.' of DDP keys.
        _load_checkpoint_to_model(model, checkpoint, strict=True)
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
def compare_outputs(model: nn.Module,
                    deployed: nn.Module,
                    frames: int,
                    size: int = 64,
                    seed: int = 0) -> Dict[str, float]:
    """Head outputs of FFN and the deployed model on one random clip.

    Both run in eval mode on ``(1, T, 3, size, size)``, or for a 3D
    backbone ``(1, 1, 3, input_frames(T), size, size)``.

    Returns:
        dict: ``max_abs_diff`` and ``max_abs_output`` (of FFN, for scale).
    """
    generator = torch.Generator().manual_seed(seed)
    if isinstance(model.backbone, FrameFlexible3DMixin):
        shape = (1, 1, 3, model.backbone.input_frames(frames), size, size)
    else:
        shape = (1, frames, 3, size, size)
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


def deploy(config: Union[str, Config],
           checkpoint: str,
           frames: int,
           out_dir: str,
           verify: bool = True,
           tolerance: float = 1e-4) -> DeployResult:
    """Write a stock MMAction2 config and checkpoint for T frames.

    Args:
        config (str | Config): The FFN config (path or loaded).
        checkpoint (str): The FFN checkpoint.
        frames (int): Frames per clip T (trained or not; see
            ``branch_policy``).
        out_dir (str): Folder for ``<config name>_<T>f.py`` and ``.pth``.
        verify (bool): Compare both models on a random clip and raise if
            they differ by more than ``tolerance`` times the output scale
            (at least 1). Defaults to True.
        tolerance (float): Allowed relative difference. Defaults to 1e-4.

    Returns:
        DeployResult: The written paths and the branch used.
    """
    frames = check_frame_count(frames, 'frames')
    if isinstance(config, str):
        name = osp.splitext(osp.basename(config))[0]
        cfg = Config.fromfile(config)
    else:
        name = osp.splitext(osp.basename(config.filename or 'ffn'))[0]
        cfg = config
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    loaded = _load_checkpoint(checkpoint, map_location='cpu')
    if not isinstance(loaded, dict):
        raise ValueError(f'{checkpoint}: expected a state dict or a dict with '
                         f'"state_dict", got {type(loaded).__name__}')
    model = build_ffn(cfg, loaded)
    branch = model.backbone.branch_for(frames)
    per_count = model.backbone.input_frames(1) if isinstance(
        model.backbone, FrameFlexible3DMixin) else 1
    stock_cfg = deployed_config(cfg, frames, per_count)
    deployed = build_deployed(model, cfg.model.to_dict(), frames)

    max_diff = None
    if verify:
        outputs = compare_outputs(model, deployed, frames)
        max_diff = outputs['max_abs_diff']
        allowed = tolerance * max(1.0, outputs['max_abs_output'])
        if max_diff > allowed:
            raise RuntimeError(
                f'The deployed model differs from FFN at {frames} frames by '
                f'{max_diff:.3g} (allowed {allowed:.3g}); please report this '
                'with your config.')

    os.makedirs(out_dir, exist_ok=True)
    stem = osp.join(out_dir, f'{name}_{frames}f')
    header = (f'# {name} deployed at {frames} frames (FFN branch {branch}) by '
              'mmffn.deploy.\n# A stock MMAction2 model: no mmffn needed.\n')
    config_text = header + stock_cfg.pretty_text
    with open(stem + '.py', 'w', encoding='utf-8') as f:
        f.write(config_text)
    meta = deployed_meta(
        loaded.get('meta'), frames, branch, model.backbone.num_segments_list,
        config_text, osp.basename(checkpoint))
    state_dict = OrderedDict(
        (k, v.cpu()) for k, v in deployed.state_dict().items())
    torch.save({'state_dict': state_dict, 'meta': meta}, stem + '.pth')
    return DeployResult(stem + '.py', stem + '.pth', frames, branch, max_diff)
