"""Multi-rate frame sampling: one TSN sampling per trained frame count."""
from typing import Dict, Sequence

import numpy as np
from mmaction.datasets.transforms import SampleFrames
from mmaction.registry import TRANSFORMS

from ...utils import check_frame_counts

__all__ = ['require_frames', 'MultiRateSampleFrames']


def require_frames(results: Dict, sampler: str) -> None:
    """Raise ValueError naming the video if it has no frames: the stock
    samplers would return int32-min indices (``SampleFrames``, np.mod by 0)
    or negative ones (``UniformSample``) instead of failing."""
    total = results['total_frames']
    if total <= 0:
        source = results.get('filename', results.get('frame_dir'))
        raise ValueError(f'{source!r} has total_frames={total}: {sampler} '
                         'needs at least 1 frame')


@TRANSFORMS.register_module()
class MultiRateSampleFrames(SampleFrames):
    """Sample a video once per frame count and concatenate the indices.

    For counts ``(4, 8, 16)`` this draws three independent samplings of the
    whole video, each exactly what ``SampleFrames(clip_len=1,
    num_clips=T)`` draws (a random frame per segment in training, the
    segment centres in test mode; videos shorter than T handled the same
    way), and concatenates them in increasing count order: 28 indices. The
    8- and 4-frame clips are not subsets of the 16-frame one, as in FFN.
    Decoding, cropping, flipping and formatting then run once on all
    frames, so every count sees the same crop and flip, and
    ``FormatShape('NCHW')`` gives ``(28, 3, H, W)``.

    ``clip_lens`` reaches the model only if ``PackActionInputs`` keeps it
    in the data sample's metainfo; its default ``meta_keys`` do not. A
    training pipeline::

        dict(type='DecordInit'),
        dict(type='MultiRateSampleFrames', num_clips_list=(4, 8, 16)),
        dict(type='UniqueDecordDecode'),  # or DecordDecode: same frames
        dict(type='Resize', scale=(-1, 256)),
        dict(type='RandomResizedCrop'),
        dict(type='Resize', scale=(224, 224), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs',
             meta_keys=('img_shape', 'clip_lens')),

    ``mmffn.apis.multi_rate_pipeline`` makes this
    from a stock TSM pipeline.

    Required Keys:

        - total_frames
        - start_index

    Added Keys:

        - frame_inds: ``sum(num_clips_list)`` indices, counts in order
        - frame_interval
        - clip_len
        - num_clips: ``sum(num_clips_list)`` (frames per sample)
        - clip_lens: ``tuple(num_clips_list)``, the frames of each count's
          clip, for ``RecognizerFFN``

    Args:
        num_clips_list (Sequence[int]): Frame counts, distinct and sorted
            ascending. Defaults to ``(4, 8, 16)``.
        clip_len (int): Frames per segment; FFN uses 1. Defaults to 1.
        **kwargs: Other arguments of ``SampleFrames`` (``frame_interval``,
            ``test_mode``, ``out_of_bound_opt``, ``keep_tail_frames``...).
            ``num_clips`` is not accepted (the counts are the clips);
            ``twice_sample=True`` only with ``test_mode=True``, for cascade
            testing: two views, each holding every count.
    """

    def __init__(self,
                 num_clips_list: Sequence[int] = (4, 8, 16),
                 clip_len: int = 1,
                 **kwargs) -> None:
        if 'num_clips' in kwargs:
            raise ValueError(
                'MultiRateSampleFrames takes num_clips_list, not num_clips '
                f"(got num_clips={kwargs['num_clips']!r})")
        if kwargs.get('twice_sample') and not kwargs.get('test_mode'):
            # Training splits the frames by count; two views per count
            # would break that split (SampleFrames doubles only test clips).
            raise ValueError(
                'MultiRateSampleFrames takes twice_sample=True only with '
                'test_mode=True (cascade testing), got twice_sample=True, '
                f"test_mode={kwargs.get('test_mode', False)!r}")
        if clip_len != 1:
            raise ValueError('MultiRateSampleFrames samples one frame per '
                             f'segment (clip_len=1), got clip_len={clip_len}')
        self.num_clips_list = check_frame_counts(num_clips_list,
                                                 'num_clips_list')
        super().__init__(
            clip_len=clip_len, num_clips=self.num_clips_list[-1], **kwargs)

    def transform(self, results: Dict) -> Dict:
        """Sample every count with ``SampleFrames`` and concatenate.

        Args:
            results (dict): The result dict of the pipeline.
        """
        require_frames(results, type(self).__name__)
        indices = []
        try:
            for count in self.num_clips_list:
                self.num_clips = count
                indices.append(super().transform(dict(results))['frame_inds'])
        finally:
            self.num_clips = self.num_clips_list[-1]
        # twice_sample (test mode) gives each count two views, view after
        # view; the counts are joined within every view, so that a sample
        # is views of sum(num_clips_list) frames (the cascade splits them).
        views = 2 if self.twice_sample and self.test_mode else 1
        per_view = [np.split(inds, views) for inds in indices]
        results['frame_inds'] = np.concatenate([
            inds[view] for view in range(views) for inds in per_view
        ]).astype(np.int32)
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = sum(self.num_clips_list)
        results['clip_lens'] = self.num_clips_list
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'num_clips_list={self.num_clips_list}, '
                f'frame_interval={self.frame_interval}, '
                f'out_of_bound_opt={self.out_of_bound_opt}, '
                f'test_mode={self.test_mode})')
