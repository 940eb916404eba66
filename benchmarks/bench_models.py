"""FFN and TSM recognizers built alike for the benchmarks.

Both use MMAction2's TSMHead and the same depth, classes and head options;
they differ only in what FFN adds (rate-specific BatchNorm, weight
alteration, multi-count training). No pretrained weights are loaded: the
timing does not depend on the values.
"""
import argparse
from typing import Callable, Optional

import torch
from bench_timing import AMP_DTYPES
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401  (stack fixes before mmaction.models)

# init_weights logs one INFO paragraph per parameter to the current MMEngine
# logger; a quiet logger of our own keeps the reports readable.
MMLogger.get_instance('mmffn_benchmarks', log_level='WARNING')

FRAME_COUNTS = (4, 8, 16)


def feature_channels(depth: int) -> int:
    """Channels of the last ResNet stage."""
    return 512 if depth in (18, 34) else 2048


def _head(depth: int, num_classes: int, num_segments: int) -> dict:
    return dict(
        type='TSMHead',
        num_classes=num_classes,
        in_channels=feature_channels(depth),
        num_segments=num_segments,
        dropout_ratio=0.5)


def _build(cfg: dict, device: str) -> torch.nn.Module:
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.to(device)


def ffn_recognizer_config(depth: int,
                          num_classes: int,
                          frame_counts=FRAME_COUNTS) -> dict:
    """Config of ``RecognizerFFN`` with ``ResNetTSM_FFN``."""
    return dict(
        type='RecognizerFFN',
        backbone=dict(
            type='ResNetTSM_FFN',
            depth=depth,
            num_segments_list=frame_counts,
            pretrained=None),
        cls_head=_head(depth, num_classes, frame_counts[-1]))


def ffn_recognizer(depth: int,
                   num_classes: int,
                   device: str = 'cpu',
                   frame_counts=FRAME_COUNTS) -> torch.nn.Module:
    """``RecognizerFFN`` with ``ResNetTSM_FFN`` trained at ``frame_counts``."""
    return _build(
        ffn_recognizer_config(depth, num_classes, frame_counts), device)


def tsm_recognizer(depth: int,
                   num_classes: int,
                   num_segments: int,
                   device: str = 'cpu') -> torch.nn.Module:
    """MMAction2's ``Recognizer2D`` with ``ResNetTSM`` at ``num_segments``."""
    return _build(
        dict(
            type='Recognizer2D',
            backbone=dict(
                type='ResNetTSM',
                depth=depth,
                num_segments=num_segments,
                pretrained=None,
                pretrained2d=False),
            cls_head=_head(depth, num_classes, num_segments)), device)


def labelled_samples(batch: int, num_classes: int) -> list:
    """``batch`` data samples with a class label each, and the frame counts
    that ``RecognizerFFN`` checks (``PackActionInputs`` keeps them in
    training)."""
    samples = []
    for index in range(batch):
        sample = ActionDataSample()
        sample.set_gt_label(torch.tensor([index % num_classes]))
        sample.set_metainfo(dict(clip_lens=FRAME_COUNTS))
        samples.append(sample)
    return samples


def random_clips(batch: int,
                 frames: int,
                 size: int,
                 device: str,
                 seed: int = 0) -> torch.Tensor:
    """Normalised-looking inputs ``(batch, frames, 3, size, size)``."""
    generator = torch.Generator().manual_seed(seed)
    clips = torch.randn(batch, frames, 3, size, size, generator=generator)
    return clips.to(device)


def sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer of FFN's recipe (without TSM's per-group lr)."""
    return torch.optim.SGD(
        model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


class Speed:
    """The ``--amp``/``--channels-last``/``--compile`` options of a
    benchmark (``bench_timing.add_speed_options``), applied alike to every
    model it times.

    Args:
        args (argparse.Namespace): Parsed options (``device`` included).
    """

    def __init__(self, args) -> None:
        self.device_type = torch.device(args.device).type
        self.dtype = AMP_DTYPES[args.amp]
        self.channels_last = args.channels_last
        self.compile_backend = args.compile_backend if args.compile else None

    @classmethod
    def default(cls, device: str = 'cpu') -> 'Speed':
        """fp32, contiguous, eager."""
        return cls(
            argparse.Namespace(
                device=device,
                amp='fp32',
                channels_last=False,
                compile=False,
                compile_backend='inductor'))

    def model(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in the memory format asked for (in place)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        return model

    def compiled(self, function):
        """``function`` compiled as asked for (``torch.compile``), else
        itself."""
        if self.compile_backend is None:
            return function
        return torch.compile(function, backend=self.compile_backend)

    def autocast(self):
        """The autocast context of ``--amp`` (disabled for fp32)."""
        return torch.autocast(
            self.device_type,
            dtype=self.dtype or torch.float32,
            enabled=self.dtype is not None)

    def scaler(self):
        """A gradient scaler for fp16 training, None otherwise."""
        if self.dtype is torch.float16:
            return torch.amp.GradScaler(self.device_type)
        return None


def training_step_fn(model: torch.nn.Module,
                     inputs: torch.Tensor,
                     data_samples: list,
                     speed: Optional[Speed] = None) -> Callable[[], None]:
    """A function that runs one training step of ``model`` on one batch:
    zero_grad + forward + loss + backward + SGD step (:func:`sgd`).

    ``model.loss`` is RecognizerFFN's multi-count loss for FFN (inputs of
    ``sum(frame_counts)`` frames) and Recognizer2D's CE for TSM. With
    ``speed``: the forward and loss run under its autocast, compiled if
    asked for, and an fp16 loss is scaled as MMEngine's AmpOptimWrapper
    does.
    """
    speed = speed or Speed.default()
    optimizer = sgd(model)
    loss_fn = speed.compiled(model.loss)
    scaler = speed.scaler()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with speed.autocast():
            losses = loss_fn(inputs, data_samples)
            loss = sum(value for key, value in losses.items() if 'loss' in key)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()

    return step
