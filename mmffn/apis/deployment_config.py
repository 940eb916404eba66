"""Rewrite an FFN experiment config as a stock MMAction2 one at one frame
count: the stock model, test pipelines at T frames, nothing that needs mmffn.
"""
import copy
from typing import Set

from mmengine.config import Config

from ..utils import check_frame_count
from .model_config import stock_model
from .pipeline_config import (_SAMPLERS, fixed_frames_loader,
                              fixed_frames_pipeline)

__all__ = ['deployed_config']

# Training needs mmffn (MultiRateSampleFrames, FFNOptimWrapperConstructor)
# and makes no sense for a single frame count: the deployed config tests.
TRAINING_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper',
                 'param_scheduler', 'auto_scale_lr', 'train_pipeline')


def _convert_loader(loader: dict, frames: int, frames_per_count: int) -> dict:
    converted = fixed_frames_loader(loader, frames, frames_per_count)
    converted.pop('_delete_', None)  # only meaningful when merging configs
    return converted


def _is_pipeline(value) -> bool:
    # Any sampler fixed_frames_pipeline converts (the 3D demos'
    # UniformSample included), not only SampleFrames.
    return isinstance(value, (list, tuple)) and any(
        isinstance(step, dict) and step.get('type') in _SAMPLERS
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

    The model becomes :func:`~mmffn.apis.stock_model`; validation and test
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
    # Every top-level pipeline: MMAction2's inference_recognizer reads
    # ``test_pipeline``, other tools their own keys.
    for key in [k for k in cfg_dict if k.endswith('pipeline')]:
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
