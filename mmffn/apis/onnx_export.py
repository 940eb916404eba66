"""ONNX export of a deployed model: the stock MMAction2 config and checkpoint
that :func:`mmffn.apis.deploy` wrote, as one ``.onnx`` file that runs with
onnxruntime alone (no torch, MMAction2 or mmffn).

The graph is the recognizer's ``model(inputs, mode='tensor', stage='head')``
on one preprocessed tensor (normalised as the config's
``data_preprocessor`` does; that step is not in the graph):

* input ``inputs``, float32:

  - 2D recognizers (TSM, MobileNetV2-TSM, TANet, TSN...):
    ``(N, views * T, 3, H, W)``;
  - 3D recognizers (X3D, SlowFast, UniFormer...):
    ``(N, views, 3, L, H, W)``, ``L = T`` (SlowFast:
    ``T * resample_rate``, its fast pathway's frames);

  the layout that ActionDataPreprocessor gives MMAction2's recognizers;
* output ``cls_score``, float32: the head's class scores before any softmax
  or view averaging, ``(N * views, num_classes)`` (a TSNHead averages all
  ``views * T`` segments: ``(N, num_classes)``).

Only ``N`` is dynamic. ``views`` is fixed at export because the 2D layout
packs views and frames into one axis, which a TSM splits by its fixed
``num_segments``; one view per row (``views=1``, the default) makes the
batch axis count clips, so several views of a video are simply several rows.
``T``, ``H`` and ``W`` are fixed too: the temporal modules are built for T,
and a patch-grid backbone (TimeSformer, UniFormerV2) for its image size.
"""
import os
import os.path as osp
import warnings
from typing import NamedTuple, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmaction.models import Recognizer2D, Recognizer3D
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint

from ..models.families import input_frames_per_count
from ..utils import check_frame_count
from .deployment_weights import _clip_size, build_ffn

__all__ = ['export_onnx', 'OnnxResult', 'OPSET', 'score_agreement']

# Exporter: TorchScript's (dynamo=False). Both exporters of torch 2.13 give
# the same outputs for TSM's temporal shift, MobileNetV2-TSM, X3D, SlowFast
# and UniFormer with a dynamic batch, but the dynamo one takes 5-10x longer
# (13-44 s per tiny model on one CPU thread against 1-5 s), needs onnxscript
# and writes the weights to a second ``.onnx.data`` file by default.
# Opset 17: what the TorchScript exporter covers fully, and onnxruntime
# >= 1.14 runs (LayerNormalization is an ONNX op from 17 on).
OPSET = 17
INPUT_NAME = 'inputs'
OUTPUT_NAME = 'cls_score'
_INSTALL = 'pip install -e ".[deploy]"'


class OnnxResult(NamedTuple):
    """What :func:`export_onnx` wrote.

    Attributes:
        path (str): The ``.onnx`` file.
        input_shape (tuple[int]): The input shape at export; axis 0 (N) is
            dynamic, the others are fixed.
        max_abs_diff (float, optional): Largest |onnxruntime - PyTorch| of
            the class scores on a random input of another batch size (None
            when not checked).
        allowed (float, optional): The largest difference the check
            allowed: ``atol * max(1, largest |PyTorch score|)``.
    """
    path: str
    input_shape: Tuple[int, ...]
    max_abs_diff: Optional[float]
    allowed: Optional[float] = None


def _require_onnx():
    """onnxruntime, after checking that onnx is there too, or an ImportError
    that says how to install both."""
    try:
        import onnx  # noqa: F401  (its checker reads the written file)
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            f'ONNX export needs onnx and onnxruntime; {exc.name} is not '
            f'installed: {_INSTALL}') from exc
    return onnxruntime


class _HeadScores(nn.Module):
    """``model(inputs, mode='tensor', stage='head')`` as a one-input
    module, for the exporter."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs, mode='tensor', stage='head')


def _crop_size(cfg: Config) -> Optional[Tuple[int, int]]:
    """(H, W) of the first crop (``crop_size``, int or (w, h)) in the test
    pipeline (``test_pipeline``, else the test loader's), or None."""
    pipeline = cfg.get('test_pipeline') or cfg.get('test_dataloader', {}).get(
        'dataset', {}).get('pipeline') or []
    for step in pipeline:
        size = step.get('crop_size') if isinstance(step, dict) else None
        if isinstance(size, int):
            return size, size
        if isinstance(size, (tuple, list)) and len(size) == 2:
            return int(size[1]), int(size[0])
    return None


def onnx_input_shape(model: nn.Module,
                     cfg: Config,
                     frames: int,
                     views: int = 1,
                     size: Optional[int] = None) -> Tuple[int, ...]:
    """The input shape of ``model`` at T frames with N = 1 (see the module
    docstring); ``H = W = size``, else the test pipeline's crop, else the
    size the backbone was built for (64 px for a convolutional one)."""
    if size is not None:
        height, width = check_frame_count(size, 'size'), size
    else:
        height, width = _crop_size(cfg) or _clip_size(model.backbone)
    if isinstance(model, Recognizer3D):
        length = frames * input_frames_per_count(cfg.model)
        return (1, views, 3, length, height, width)
    if isinstance(model, Recognizer2D):
        return (1, views * frames, 3, height, width)
    raise ValueError(f'ONNX export takes a Recognizer2D or Recognizer3D, got '
                     f'{type(model).__name__} (model.type={cfg.model.type!r})')


def _run_onnx(path: str, inputs: torch.Tensor) -> torch.Tensor:
    ort = _require_onnx()
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = ort.InferenceSession(
        path, options, providers=['CPUExecutionProvider'])
    (scores, ) = session.run([OUTPUT_NAME], {INPUT_NAME: inputs.numpy()})
    return torch.from_numpy(scores)


@torch.no_grad()
def score_agreement(actual: torch.Tensor, expected: torch.Tensor,
                    atol: float) -> Tuple[float, float, float]:
    """``(max |actual - expected|, allowed, largest |expected|)``: class
    scores agree when the first is at most ``atol * max(1, largest)``
    (NaN never does)."""
    max_diff = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    return max_diff, atol * max(1.0, scale), scale


def export_onnx(deployed_config: Union[str, Config],
                deployed_checkpoint: str,
                out_file: str,
                frames: int,
                *,
                views: int = 1,
                size: Optional[int] = None,
                check: bool = True,
                atol: float = 1e-4) -> OnnxResult:
    """Export a deployed stock model's class scores to ONNX.

    Args:
        deployed_config (str | Config): The stock config (``deploy``'s
            ``.py``).
        deployed_checkpoint (str): Its checkpoint.
        out_file (str): The ``.onnx`` file to write (replaced if there;
            removed again if the export or the check fails).
        frames (int): Frames per clip T the model was deployed at.
        views (int): Views (clips x crops) per row of the input, fixed in
            the graph. Defaults to 1.
        size (int, optional): ``H = W`` of the input. Defaults to None: the
            test pipeline's crop, else the backbone's built size.
        check (bool): Run the file with onnxruntime on a random input of
            batch 2 (the export used 1) and compare with PyTorch. Defaults
            to True.
        atol (float): Largest |ONNX - PyTorch| the check allows, per unit
            of the largest |score| where that is above 1 (float32 rounding
            grows with the scores; deploy's own check scales alike).
            Defaults to 1e-4.

    Returns:
        OnnxResult: The path, input shape and the check's difference.
    """
    _require_onnx()
    import onnx
    frames = check_frame_count(frames, 'frames')
    views = check_frame_count(views, 'views')
    cfg = Config.fromfile(deployed_config) if isinstance(
        deployed_config, str) else deployed_config
    # build_ffn builds any recognizer config (here the stock one) and loads
    # the checkpoint strictly.
    model = build_ffn(
        cfg, _load_checkpoint(deployed_checkpoint, map_location='cpu')).cpu()
    shape = onnx_input_shape(model, cfg, frames, views, size)
    wrapper = _HeadScores(model).eval()
    example = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    try:
        with warnings.catch_warnings():
            # The exporter chosen above (see OPSET) warns that it is legacy.
            warnings.filterwarnings(
                'ignore', message='You are using the legacy TorchScript')
            warnings.filterwarnings(
                'ignore', category=DeprecationWarning, module='torch.onnx')
            torch.onnx.export(
                wrapper, (example, ),
                out_file,
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={
                    INPUT_NAME: {
                        0: 'batch'
                    },
                    OUTPUT_NAME: {
                        0: 'batch'
                    }
                })
        onnx.checker.check_model(out_file)
        max_diff = allowed = None
        if check:
            clip = torch.randn(
                2, *shape[1:], generator=torch.Generator().manual_seed(1))
            expected = wrapper(clip)
            actual = _run_onnx(out_file, clip)
            if actual.shape != expected.shape:
                raise RuntimeError(
                    f'{out_file}: onnxruntime gave class scores of shape '
                    f'{tuple(actual.shape)} on inputs {tuple(clip.shape)}, '
                    f'PyTorch {tuple(expected.shape)}')
            max_diff, allowed, scale = score_agreement(actual, expected, atol)
            if not max_diff <= allowed:  # also catches NaN
                raise RuntimeError(
                    f'{out_file}: the ONNX model differs from PyTorch by '
                    f'{max_diff:.3g} (max |ONNX - PyTorch| of the class '
                    f'scores on a random input), more than the allowed '
                    f'{allowed:.3g} (atol={atol:g} x max(1, largest |score| '
                    f'{scale:.3g})); please report this with your config.')
    except BaseException:
        if osp.exists(out_file):
            os.remove(out_file)
        raise
    return OnnxResult(out_file, shape, max_diff, allowed)
