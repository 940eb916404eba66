"""Multi-rate frame sampling for 3D recognizers: one clip per frame count."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmaction.datasets.transforms import SampleFrames, UniformSample
from mmaction.registry import TRANSFORMS
from mmcv.transforms import BaseTransform

from ...utils import check_frame_count, check_frame_counts
from .multi_rate_sampling import require_frames

__all__ = ['MultiRateSampleFrames3D']

# SampleFrames options that keep one clip of clip_len frames per view,
# passed on in 'interval' mode.
_SAMPLE_FRAMES_OPTIONS = ('temporal_jitter', 'out_of_bound_opt',
                          'keep_tail_frames', 'target_fps')
_OUT_OF_BOUND_OPTS = ('loop', 'repeat_last')
_MODES = ('uniform', 'interval')


@TRANSFORMS.register_module()
class MultiRateSampleFrames3D(BaseTransform):
    """Sample one 3D clip per frame count and concatenate them along time.

    For counts ``(4, 8, 16)`` this draws three clips, each exactly what the
    stock sampler draws for that count (in increasing count order, one
    stock draw after the other), and concatenates them: 28 frames. Decoding
    and spatial augmentation then run once on all of them, so every count
    sees the same crop and flip, and ``FormatShape('NCTHW')`` gives
    ``(num_clips, C, 28, H, W)``. The recognizer splits the T axis by
    ``clip_lens``.

    Modes:

    - ``'uniform'`` (default, the FFN protocol for SlowFast and UniFormer):
      every count covers the whole video with its own density, as
      ``UniformSample(clip_len=T, num_clips=num_clips)``: a random frame
      per segment in training, fixed positions in test mode.
    - ``'interval'``: a fixed ``frame_interval``, so the span grows with
      the count, as ``SampleFrames(clip_len=T,
      frame_interval=frame_interval, num_clips=num_clips)``: a random
      offset in training, the centre (or ``num_clips`` evenly spaced
      offsets) in test mode.

    ``clip_lens`` reaches the model only if ``PackActionInputs`` keeps it
    in the data sample's metainfo. A training pipeline::

        dict(type='DecordInit'),
        dict(type='MultiRateSampleFrames3D', clip_len_list=(4, 8, 16)),
        dict(type='UniqueDecordDecode'),  # or DecordDecode: same frames
        dict(type='Resize', scale=(-1, 256)),
        dict(type='RandomResizedCrop'),
        dict(type='Resize', scale=(224, 224), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs',
             meta_keys=('img_shape', 'clip_lens')),

    Required Keys:

        - total_frames
        - start_index
        - avg_fps (optional, ``'interval'`` mode with ``target_fps``)

    Added Keys:

        - frame_inds: ``num_clips`` views of ``sum(clip_len_list)``
          indices each, the counts in increasing order within every view
        - clip_len: ``sum(clip_len_list)``, frames per view
        - frame_interval: ``None`` in ``'uniform'`` mode (as
          ``UniformSample``), ``frame_interval`` in ``'interval'`` mode
        - num_clips
        - clip_lens: ``tuple(clip_len_list)``, the frames of each count's
          clip (count * resample_rate for SlowFast), for the recognizer

    Args:
        clip_len_list (Sequence[int]): Frame counts, distinct and sorted
            ascending. Defaults to ``(4, 8, 16)``.
        mode (str): ``'uniform'`` or ``'interval'``, see above. Defaults
            to ``'uniform'``.
        frame_interval (int, optional): Interval between sampled frames;
            required in ``'interval'`` mode, not accepted in ``'uniform'``
            mode, where the segments set it. Defaults to None.
        num_clips (int): Views per video, each with every count; ``> 1``
            for multi-view testing (``'uniform'`` mode: test mode only, as
            ``UniformSample`` draws one clip in training). Defaults to 1.
        test_mode (bool): Deterministic test-time sampling. Defaults to
            False.
        **kwargs: ``'interval'`` mode only: ``temporal_jitter``,
            ``out_of_bound_opt``, ``keep_tail_frames`` or ``target_fps``,
            passed to ``SampleFrames``.
    """

    def __init__(self,
                 clip_len_list: Sequence[int] = (4, 8, 16),
                 mode: str = 'uniform',
                 frame_interval: Optional[int] = None,
                 num_clips: int = 1,
                 test_mode: bool = False,
                 **kwargs) -> None:
        name = type(self).__name__
        if 'clip_len' in kwargs:
            raise ValueError(f'{name} takes clip_len_list, not clip_len (got '
                             f"clip_len={kwargs['clip_len']!r})")
        if 'twice_sample' in kwargs:
            raise ValueError(
                f'{name} does not support twice_sample (got '
                f"twice_sample={kwargs['twice_sample']!r}): SampleFrames "
                'doubles the clips of a 3D sampling but not num_clips; use '
                'num_clips for more views')
        self.clip_len_list = check_frame_counts(clip_len_list,
                                                f'{name} clip_len_list')
        if mode not in _MODES:
            raise ValueError(f'{name} mode must be one of {_MODES}, got '
                             f'mode={mode!r}')
        self.num_clips = check_frame_count(num_clips, f'{name} num_clips')
        if mode == 'uniform':
            self._check_uniform_args(frame_interval, test_mode, kwargs)
            self.samplers = [
                UniformSample(
                    clip_len=t, num_clips=self.num_clips, test_mode=test_mode)
                for t in self.clip_len_list
            ]
        else:
            frame_interval = self._check_interval_args(frame_interval, kwargs)
            self.samplers = [
                SampleFrames(
                    clip_len=t,
                    frame_interval=frame_interval,
                    num_clips=self.num_clips,
                    test_mode=test_mode,
                    **kwargs) for t in self.clip_len_list
            ]
        self.mode = mode
        self.frame_interval = frame_interval
        self.test_mode = test_mode
        self.options = kwargs

    def _check_uniform_args(self, frame_interval, test_mode, kwargs) -> None:
        name = type(self).__name__
        if frame_interval is not None:
            # Silently ignoring it would hide a config meant for 'interval'.
            raise ValueError(
                f"{name} mode='uniform' spaces frames by the segments and "
                f'takes no frame_interval, got frame_interval='
                f"{frame_interval!r}; use mode='interval' for a fixed "
                'interval')
        if kwargs:
            raise ValueError(
                f"{name} mode='uniform' takes no {sorted(kwargs)} (got "
                f"{kwargs!r}); these are SampleFrames options of "
                f"mode='interval'")
        if self.num_clips > 1 and not test_mode:
            # UniformSample draws one clip in training whatever num_clips
            # says, so the views would not match num_clips.
            raise ValueError(
                f"{name} mode='uniform' draws one clip per video in "
                f'training, got num_clips={self.num_clips} with '
                'test_mode=False (expected num_clips=1, or test_mode=True '
                'for multi-view testing)')

    def _check_interval_args(self, frame_interval, kwargs) -> int:
        name = type(self).__name__
        if frame_interval is None:
            raise ValueError(
                f"{name} mode='interval' needs frame_interval (a positive "
                'int such as 2), got none')
        frame_interval = check_frame_count(frame_interval,
                                           f'{name} frame_interval')
        unknown = sorted(set(kwargs) - set(_SAMPLE_FRAMES_OPTIONS))
        if unknown:
            raise ValueError(
                f'{name} got unexpected arguments {unknown} (expected '
                f'only {list(_SAMPLE_FRAMES_OPTIONS)})')
        target_fps = kwargs.get('target_fps')
        if target_fps is not None and (isinstance(
                target_fps, bool) or not isinstance(target_fps, (int, float))
                                       or not target_fps > 0):
            # SampleFrames divides by it when it samples.
            raise ValueError(f'{name} target_fps must be a positive number '
                             f'(frames per second) or None, got '
                             f'target_fps={target_fps!r}')
        option = kwargs.get('out_of_bound_opt', 'loop')
        if option not in _OUT_OF_BOUND_OPTS:
            # SampleFrames checks it with a bare assert.
            raise ValueError(f'{name} out_of_bound_opt must be one of '
                             f'{_OUT_OF_BOUND_OPTS}, got {option!r}')
        return frame_interval

    def transform(self, results: Dict) -> Dict:
        """Draw every count with its stock sampler and concatenate.

        Args:
            results (dict): The result dict of the pipeline.
        """
        require_frames(results, type(self).__name__)
        # Each sampler gives num_clips views of its count, view after
        # view; FormatShape('NCTHW') wants each view's frames together, so
        # the counts are joined within every view.
        clips = [
            sampler(dict(results))['frame_inds'].reshape(self.num_clips, -1)
            for sampler in self.samplers
        ]
        results['frame_inds'] = np.concatenate(clips, axis=1).ravel()
        results['clip_len'] = sum(self.clip_len_list)
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = self.num_clips
        results['clip_lens'] = self.clip_len_list
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'clip_len_list={self.clip_len_list}, '
                f'mode={self.mode!r}, '
                f'frame_interval={self.frame_interval}, '
                f'num_clips={self.num_clips}, '
                f'test_mode={self.test_mode}, '
                f'options={self.options})')
