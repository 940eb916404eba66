"""Convert pipeline and dataloader configs: stock MMAction2 ones to FFN
training ones (several frame counts) and to test ones at one frame count.

MMEngine merges inherited dicts key by key but replaces lists whole, so a
config that inherits an MMAction2 recipe cannot swap one step of its
pipeline by merging. These helpers take the inherited pipeline (available as
``_base_.train_pipeline`` or ``_base_.train_dataloader.dataset.pipeline``
inside a config file) and return the FFN version, leaving every other step
(decode, resize, crops, flip and its label map, formatting) as it was::

    from mmffn.apis import fixed_frames_pipeline, multi_rate_pipeline
    train_dataloader = dict(dataset=dict(pipeline=multi_rate_pipeline(
        _base_.train_dataloader.dataset.pipeline, (4, 8, 16))))

2D pipelines (TSN/TSM: ``SampleFrames(clip_len=1, num_clips=T)``, format
``NCHW``) and 3D ones (``UniformSample(clip_len=T)`` or
``SampleFrames(clip_len=T, frame_interval=k)``, format ``NCTHW``) are both
converted; which one a pipeline is comes from its ``FormatShape``. A 3D
backbone that reads more frames than its count (SlowFast: the slow
pathway's count times ``resample_rate``) passes ``frames_per_count``.
"""
import copy
from typing import List, Optional, Sequence

from ..utils import check_frame_count, check_frame_counts

__all__ = [
    'multi_rate_pipeline', 'fixed_frames_pipeline', 'multi_rate_loader',
    'fixed_frames_loader', 'unlabeled_loader'
]

_SAMPLERS = ('SampleFrames', 'MultiRateSampleFrames', 'UniformSample',
             'MultiRateSampleFrames3D')


def _sampler_index(pipeline: Sequence[dict]) -> int:
    found = [
        i for i, step in enumerate(pipeline) if step.get('type') in _SAMPLERS
    ]
    if len(found) != 1:
        types = [step.get('type') for step in pipeline]
        raise ValueError(
            f'Expected exactly one sampler ({", ".join(_SAMPLERS)}) in the '
            f'pipeline, found {len(found)} in {types}.')
    return found[0]


def _is_3d(pipeline: Sequence[dict]) -> bool:
    """Whether the pipeline makes 3D clips (``FormatShape('NCTHW')``)."""
    formats = [
        step.get('input_format') for step in pipeline
        if step.get('type') == 'FormatShape'
    ]
    return bool(formats) and formats[-1].startswith('NCTHW')


# SampleFrames options that uniform sampling has no counterpart for.
_INTERVAL_ONLY = ('frame_interval', 'temporal_jitter', 'out_of_bound_opt',
                  'keep_tail_frames', 'target_fps')
_MODES = ('uniform', 'interval')


def _sampler_mode(sampler: dict, mode: Optional[str]) -> str:
    """The 3D sampling manner: ``mode`` if given, else the sampler's own
    (``UniformSample``: uniform density; ``SampleFrames``: its interval)."""
    own = {
        'UniformSample': 'uniform',
        'SampleFrames': 'interval'
    }.get(sampler['type'], sampler.get('mode', 'uniform'))
    if mode is None:
        return own
    if mode not in _MODES:
        raise ValueError(f'mode must be one of {_MODES} or None, got '
                         f'{mode!r}')
    if mode == 'uniform' and own == 'interval':
        # The interval is what 'uniform' replaces; any other option of
        # SampleFrames has no uniform counterpart: refuse, don't drop it.
        extra = [k for k in _INTERVAL_ONLY[1:] if k in sampler]
        if extra:
            raise ValueError(
                f'mode="uniform" cannot keep the options {extra} of '
                f'{sampler["type"]}; remove them or keep mode=None')
    elif mode == 'interval' and own == 'uniform':
        raise ValueError(
            f'mode="interval" needs a frame interval, which {sampler["type"]}'
            ' does not have; keep mode=None')
    return mode


def _multi_rate_3d_sampler(sampler: dict, clip_lens: tuple, mode: str) -> dict:
    """``MultiRateSampleFrames3D`` drawing, once per count, what the stock
    3D sampler of ``mode`` draws."""
    sampler = dict(sampler)
    sampler.pop('type')
    for key in ('clip_len', 'clip_len_list', 'mode'):
        sampler.pop(key, None)
    if mode == 'uniform':
        sampler.pop('frame_interval', None)
    sampler.update(
        type='MultiRateSampleFrames3D', clip_len_list=clip_lens, mode=mode)
    return sampler


def _add_meta_key(pipeline: List[dict], key: str) -> None:
    for step in pipeline:
        if step.get('type') == 'PackActionInputs':
            keys = tuple(
                step.get('meta_keys',
                         ('img_shape', 'img_key', 'video_id', 'timestamp')))
            if key not in keys:
                step['meta_keys'] = keys + (key, )
            return
    raise ValueError('Expected a PackActionInputs step in the pipeline.')


def multi_rate_pipeline(pipeline: Sequence[dict],
                        frame_counts: Sequence[int],
                        frames_per_count: int = 1,
                        mode: Optional[str] = None) -> List[dict]:
    """FFN training pipeline from a stock pipeline.

    2D: ``SampleFrames`` becomes ``MultiRateSampleFrames`` with the same
    options. 3D: the sampler becomes ``MultiRateSampleFrames3D`` drawing
    clips of ``T * frames_per_count`` frames per count T, in the stock
    sampler's manner (``UniformSample``: same span, density per count;
    ``SampleFrames``: same frame interval, span per count). Then
    ``DecordDecode`` decodes each distinct frame once
    (``UniqueDecordDecode``), and ``PackActionInputs`` keeps
    ``clip_lens`` for the recognizer.

    Args:
        pipeline (list[dict]): Stock pipeline (not modified).
        frame_counts (Sequence[int]): Trained counts, e.g. ``(4, 8, 16)``.
        frames_per_count (int): Input frames per counted frame (3D only;
            SlowFast: ``resample_rate``). Defaults to 1.
        mode (str, optional): 3D only: ``'uniform'`` (every count over the
            same span, the FFN paper's protocol) or ``'interval'`` (the
            recipe's frame interval, a span per count). Defaults to None:
            the stock sampler's manner.
    """
    counts = check_frame_counts(frame_counts, 'frame_counts')
    frames_per_count = check_frame_count(frames_per_count, 'frames_per_count')
    pipeline = [dict(copy.deepcopy(step)) for step in pipeline]
    index = _sampler_index(pipeline)
    sampler = pipeline[index]
    if _is_3d(pipeline):
        pipeline[index] = _multi_rate_3d_sampler(
            sampler, tuple(c * frames_per_count for c in counts),
            _sampler_mode(sampler, mode))
        return _unique_decode_with_counts(pipeline)
    _refuse_3d_options(frames_per_count, mode)
    if sampler.get('clip_len', 1) != 1:
        raise ValueError(
            f'FFN samples single frames per segment (clip_len=1), got '
            f'clip_len={sampler["clip_len"]}.')
    sampler.pop('num_clips', None)
    sampler.pop('num_clips_list', None)
    sampler.update(type='MultiRateSampleFrames', num_clips_list=counts)
    return _unique_decode_with_counts(pipeline)


def _unique_decode_with_counts(pipeline: List[dict]) -> List[dict]:
    for step in pipeline:
        if step.get('type') == 'DecordDecode':
            step['type'] = 'UniqueDecordDecode'
    _add_meta_key(pipeline, 'clip_lens')
    return pipeline


def fixed_frames_pipeline(pipeline: Sequence[dict],
                          frames: int,
                          frames_per_count: int = 1,
                          mode: Optional[str] = None) -> List[dict]:
    """Test/val pipeline at one frame count ``frames``.

    2D: the sampler is set to ``SampleFrames(num_clips=frames)`` (other
    options such as ``test_mode`` and ``twice_sample`` kept). 3D: the stock
    sampler (``UniformSample`` or ``SampleFrames``; a multi-rate one
    becomes the stock sampler of its mode) draws clips of ``frames *
    frames_per_count`` frames, its views (``num_clips`` of the stock
    sampler) kept. ``PackActionInputs`` keeps ``num_clips`` and
    ``clip_len`` so that the recognizer knows T even with several views per
    sample.

    Args:
        pipeline (list[dict]): Stock pipeline (not modified).
        frames (int): Frames per clip T at test time, any positive count.
        frames_per_count (int): Input frames per counted frame (3D only;
            SlowFast: ``resample_rate``). Defaults to 1.
        mode (str, optional): 3D only, as in :func:`multi_rate_pipeline`
            (give the training pipeline's). Defaults to None.
    """
    frames = check_frame_count(frames, 'frames')
    frames_per_count = check_frame_count(frames_per_count, 'frames_per_count')
    pipeline = [dict(copy.deepcopy(step)) for step in pipeline]
    index = _sampler_index(pipeline)
    sampler = pipeline[index]
    if _is_3d(pipeline):
        pipeline[index] = _stock_3d_sampler(sampler, frames * frames_per_count,
                                            _sampler_mode(sampler, mode))
    else:
        _refuse_3d_options(frames_per_count, mode)
        sampler.pop('num_clips_list', None)
        sampler.update(type='SampleFrames', num_clips=frames)
    _add_meta_key(pipeline, 'num_clips')
    _add_meta_key(pipeline, 'clip_len')
    return pipeline


def _stock_3d_sampler(sampler: dict, clip_len: int, mode: str) -> dict:
    """The stock 3D sampler of ``mode`` drawing ``clip_len`` frames, with
    the options of ``sampler`` (its views included)."""
    sampler = dict(sampler)
    for key in ('clip_len_list', 'mode'):
        sampler.pop(key, None)
    if mode == 'uniform':
        sampler.pop('frame_interval', None)
    sampler.update(
        type='UniformSample' if mode == 'uniform' else 'SampleFrames',
        clip_len=clip_len)
    return sampler


def _refuse_3d_options(frames_per_count: int, mode: Optional[str]) -> None:
    if frames_per_count != 1 or mode is not None:
        raise ValueError(
            'frames_per_count and mode are for 3D pipelines (FormatShape '
            f"'NCTHW'), got frames_per_count={frames_per_count}, "
            f'mode={mode!r} for a 2D one')


def _loader_with_pipeline(loader: dict, convert) -> dict:
    """Copy of a dataloader config whose dataset pipeline went through
    ``convert``; a pipeline misplaced on the dataloader itself (as in
    MMAction2's ``tsm_..._1x1x16-50e_sthv2-rgb.py`` test loader, where it
    breaks the DataLoader and leaves the dataset at 8 frames) is moved to the
    dataset, where it was meant to be."""
    loader = copy.deepcopy(dict(loader))
    dataset = dict(loader['dataset'])
    misplaced = loader.pop('pipeline', None)
    if misplaced is not None:
        dataset['pipeline'] = misplaced
    if 'test_mode' in loader:
        dataset['test_mode'] = loader.pop('test_mode')
    dataset['pipeline'] = convert(dataset['pipeline'])
    loader['dataset'] = dataset
    # Replace the inherited loader as a whole: merging would keep the
    # misplaced keys.
    loader['_delete_'] = True
    return loader


def multi_rate_loader(loader: dict,
                      frame_counts: Sequence[int],
                      frames_per_count: int = 1,
                      mode: Optional[str] = None) -> dict:
    """A training dataloader config with :func:`multi_rate_pipeline`.

    MMAction2's ``RepeatAugDataset`` (MViT recipes) calls its pipeline's
    first three steps itself and requires ``DecordDecode`` third, which
    already decodes the frames of all its repeats in one call: there the
    stock decoder stays.
    """
    loader = _loader_with_pipeline(
        loader,
        lambda p: multi_rate_pipeline(p, frame_counts, frames_per_count, mode))
    if loader['dataset'].get('type') == 'RepeatAugDataset':
        for step in loader['dataset']['pipeline']:
            if step.get('type') == 'UniqueDecordDecode':
                step['type'] = 'DecordDecode'
    return loader


def fixed_frames_loader(loader: dict,
                        frames: int,
                        frames_per_count: int = 1,
                        mode: Optional[str] = None) -> dict:
    """A val/test dataloader config with :func:`fixed_frames_pipeline` at
    ``frames`` frames per clip."""
    return _loader_with_pipeline(
        loader,
        lambda p: fixed_frames_pipeline(p, frames, frames_per_count, mode))


def unlabeled_loader(loader: dict, video_list: str) -> dict:
    """A training dataloader config reading the videos of ``video_list``
    (one file per line) without labels (``UnlabeledVideoDataset``), with
    the loader's pipeline, prefix and sampler.

    A ``Flip``'s ``flip_label_map`` (Something-Something's left/right
    classes) is removed: it relabels a flipped clip, and here there is no
    label; the teacher sees the same flipped clip as its students.

    Args:
        loader (dict): A dataloader config over a ``VideoDataset``; not
            modified.
        video_list (str): The list of videos (an MMAction2 list with labels
            works too; its labels are not read).

    Returns:
        dict: The dataloader config.
    """
    loader = copy.deepcopy(dict(loader))
    dataset = dict(loader['dataset'])
    if dataset.get('type') not in ('VideoDataset', 'UnlabeledVideoDataset'):
        raise ValueError(
            'unlabeled_loader reads video files (a VideoDataset config), got '
            f'dataset type={dataset.get("type")!r}')
    dataset.update(type='UnlabeledVideoDataset', ann_file=video_list)
    if 'pipeline' in dataset:
        dataset['pipeline'] = [
            {k: v
             for k, v in step.items()
             if k != 'flip_label_map'} if step.get('type') == 'Flip' else step
            for step in dataset['pipeline']
        ]
    loader['dataset'] = dataset
    return loader
