"""The deployment entry point: one frame count of an FFN model written as
its stock MMAction2 config and checkpoint.

An FFN checkpoint holds one sub-network per trained frame count. At a fixed
frame count T only one of them runs, and it is the stock model (a plain TSM
for ``ResNetTSM_FFN``; every backbone of
:data:`mmffn.models.families.FAMILIES` likewise):

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

    from mmffn.apis import deploy
    result = deploy('configs/ffn_tsm_r50_ssv2.py', 'epoch_50.pth',
                    frames=8, out_dir='deployed/')

The config is rewritten by :mod:`mmffn.apis.deployment_config`, the weights
folded by :mod:`mmffn.apis.deployment_weights`; ``onnx=True`` adds an ONNX
file of the deployed model (:mod:`mmffn.apis.onnx_export`).
``tools/deploy.py`` is the command-line front end.
"""
import os
import os.path as osp
import warnings
from collections import OrderedDict
from typing import NamedTuple, Optional, Tuple, Union

import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint

from ..models.backbones import FrameFlexible3DMixin
from ..utils import check_frame_count
from .deployment_config import deployed_config
from .deployment_weights import (build_deployed, build_ffn, compare_outputs,
                                 deployed_meta)
from .onnx_export import _require_onnx, export_onnx

__all__ = ['deploy', 'DeployResult']


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
        onnx (str, optional): Path of the ONNX file (None without
            ``onnx=True``).
        onnx_max_abs_diff (float, optional): Largest |ONNX - PyTorch| of
            the deployed model's class scores on a random clip (None when
            not exported or not verified).
    """
    config: str
    checkpoint: str
    frames: int
    branch: int
    max_abs_diff: Optional[float]
    onnx: Optional[str] = None
    onnx_max_abs_diff: Optional[float] = None


def _temporary_path(path: str) -> str:
    """A hidden name beside ``path`` for its content until it is
    complete."""
    return osp.join(
        osp.dirname(path), f'.{osp.basename(path)}.{os.getpid()}.tmp')


def _write_temporary(path: str, write) -> Tuple[str, str]:
    """Write ``path``'s content (``write(binary file)``) to a hidden
    temporary file in the same folder, flushed to disk; returns
    ``(temporary, path)`` for :func:`os.replace`."""
    temporary = _temporary_path(path)
    try:
        with open(temporary, 'wb') as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        if osp.exists(temporary):
            os.remove(temporary)
        raise
    return temporary, path


def deploy(config: Union[str, Config],
           checkpoint: str,
           frames: int,
           out_dir: str,
           verify: bool = True,
           tolerance: float = 1e-4,
           force: bool = False,
           onnx: bool = False) -> DeployResult:
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
        force (bool): Replace a deployment of the same name and count in
            ``out_dir``; otherwise it is refused. Defaults to False.
        onnx (bool): Also write ``<config name>_<T>f.onnx``, the deployed
            model's class scores (:func:`~mmffn.apis.onnx_export.
            export_onnx`; checked against PyTorch with ``tolerance`` as its
            ``atol`` when ``verify``). Defaults to False.

    Returns:
        DeployResult: The written paths and the branch used.
    """
    frames = check_frame_count(frames, 'frames')
    if onnx:
        _require_onnx()  # before any work: a clear ImportError
    if isinstance(config, str):
        name = osp.splitext(osp.basename(config))[0]
        cfg = Config.fromfile(config)
    else:
        name = osp.splitext(osp.basename(config.filename or 'ffn'))[0]
        cfg = config
    from ..models.families import FAMILIES
    stock_type = cfg.model.get('backbone', {}).get('type')
    if stock_type in FAMILIES:  # a stock model has no count to deploy
        raise ValueError(
            f'{name}: model.backbone.type={stock_type!r} is a stock MMAction2 '
            f'backbone; deploy takes the FFN config the checkpoint was '
            f'trained with (backbone {FAMILIES[stock_type].ffn_type!r}). A '
            'stock config and checkpoint run with tools/test.py as they are.')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint {checkpoint!r} does not exist')
    stem = osp.join(out_dir, f'{name}_{frames}f')
    # An ONNX file of that name belongs to the deployment too, even when
    # this one writes none. Before the (slow) build: never replace a
    # deployment without being told.
    existing = [
        p for p in (stem + '.py', stem + '.pth', stem + '.onnx')
        if osp.lexists(p)
    ]
    if existing and not force:
        raise FileExistsError(
            f'{", ".join(existing)} already exist(s): a deployment at '
            f'{frames} frames is there. Choose another out_dir, or pass '
            'force=True (tools/deploy.py --force) to replace it.')
    loaded = _load_checkpoint(checkpoint, map_location='cpu')
    if not isinstance(loaded, dict):
        raise ValueError(f'{checkpoint}: expected a state dict or a dict with '
                         f'"state_dict", got {type(loaded).__name__}')
    meta = loaded.get('meta')
    if meta is not None and not isinstance(meta, dict):
        # Only a dict's plain entries are carried over (deployed_meta).
        raise ValueError(
            f"{checkpoint}'s meta is a {type(meta).__name__}, not a dict: "
            'MMEngine checkpoints keep a dict there (epoch, iter, cfg, ...); '
            'save the weights with meta=dict(...) or without meta')
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
    header = (f'# {name} deployed at {frames} frames (FFN branch {branch}) '
              'by mmffn.apis.deploy.\n# A stock MMAction2 model: no mmffn '
              'needed.\n')
    config_text = header + stock_cfg.pretty_text
    meta = deployed_meta(
        loaded.get('meta'), frames, branch, model.backbone.num_segments_list,
        config_text, osp.basename(checkpoint))
    state_dict = OrderedDict(
        (k, v.cpu()) for k, v in deployed.state_dict().items())
    # All written to temporary names first, then renamed: a kill leaves
    # the old files or the new ones, never a 0-byte or half-written one.
    saved = {'state_dict': state_dict, 'meta': meta}
    weights = _write_temporary(stem + '.pth', lambda f: torch.save(saved, f))
    try:
        text = _write_temporary(stem + '.py',
                                lambda f: f.write(config_text.encode('utf-8')))
    except BaseException:
        os.remove(weights[0])
        raise
    written = [weights, text]
    onnx_result = None
    if onnx:
        # From the written checkpoint, not the model in memory: the file is
        # what the ONNX graph must reproduce. A failure leaves no new file.
        try:
            onnx_result = export_onnx(
                stock_cfg,
                weights[0],
                _temporary_path(stem + '.onnx'),
                frames,
                check=verify,
                atol=tolerance)
        except BaseException:
            for temporary, _ in written:
                os.remove(temporary)
            raise
        with open(onnx_result.path, 'rb') as f:
            os.fsync(f.fileno())  # on disk before the rename, as the others
        written.append((onnx_result.path, stem + '.onnx'))
    for temporary, path in written:
        os.replace(temporary, path)
    stale = stem + '.onnx'
    if not onnx and osp.lexists(stale):
        # Made from the weights just replaced: it would disagree with them.
        os.remove(stale)
        warnings.warn(
            f'{stale} was exported from the replaced deployment; removed '
            '(pass onnx=True, tools/deploy.py --onnx, for a new one)')
    return DeployResult(
        stem + '.py', stem + '.pth', frames, branch, max_diff,
        None if onnx_result is None else stem + '.onnx',
        None if onnx_result is None else onnx_result.max_abs_diff)
