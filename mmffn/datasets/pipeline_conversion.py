"""Turn stock MMAction2 pipelines into FFN pipelines, for mixing configs.

MMEngine merges inherited dicts key by key but replaces lists whole, so a
config that inherits an MMAction2 recipe cannot swap one step of its
pipeline by merging. These helpers take the inherited pipeline (available as
``_base_.train_pipeline`` or ``_base_.train_dataloader.dataset.pipeline``
inside a config file) and return the FFN version, leaving every other step
(decode, resize, crops, flip and its label map, formatting) as it was::

    from mmffn.datasets.pipeline_conversion import (multi_rate_pipeline,
                                                    fixed_frames_pipeline)
    train_dataloader = dict(dataset=dict(pipeline=multi_rate_pipeline(
        _base_.train_dataloader.dataset.pipeline, (4, 8, 16))))
"""
import copy
from typing import List, Sequence

from ..utils import check_frame_count

_SAMPLERS = ('SampleFrames', 'MultiRateSampleFrames')


def _sampler_index(pipeline: Sequence[dict]) -> int:
    found = [
        i for i, step in enumerate(pipeline) if step.get('type') in _SAMPLERS
    ]
    if len(found) != 1:
        types = [step.get('type') for step in pipeline]
        raise ValueError(
            f'Expected exactly one SampleFrames step in the pipeline, found '
            f'{len(found)} in {types}.')
    return found[0]


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
                        frame_counts: Sequence[int]) -> List[dict]:
    """FFN training pipeline from a stock TSN/TSM-style pipeline.

    ``SampleFrames`` becomes ``MultiRateSampleFrames`` with the same options,
    ``DecordDecode`` decodes each distinct frame once (``UniqueDecordDecode``),
    and ``PackActionInputs`` keeps ``frame_counts`` for the recognizer.

    Args:
        pipeline (list[dict]): Stock pipeline (not modified).
        frame_counts (Sequence[int]): Trained counts, e.g. ``(4, 8, 16)``.
    """
    pipeline = [dict(copy.deepcopy(step)) for step in pipeline]
    index = _sampler_index(pipeline)
    sampler = pipeline[index]
    if sampler.get('clip_len', 1) != 1:
        raise ValueError(
            f'FFN samples single frames per segment (clip_len=1), got '
            f'clip_len={sampler["clip_len"]}.')
    sampler.pop('num_clips', None)
    sampler.pop('num_clips_list', None)
    sampler.update(
        type='MultiRateSampleFrames', num_clips_list=tuple(frame_counts))
    for step in pipeline:
        if step.get('type') == 'DecordDecode':
            step['type'] = 'UniqueDecordDecode'
    _add_meta_key(pipeline, 'frame_counts')
    return pipeline


def fixed_frames_pipeline(pipeline: Sequence[dict],
                          num_clips: int) -> List[dict]:
    """Test/val pipeline at one frame count ``num_clips``.

    The sampler is set to ``SampleFrames(num_clips=num_clips)`` (other
    options such as ``test_mode`` and ``twice_sample`` kept), and
    ``PackActionInputs`` keeps ``num_clips`` and ``clip_len`` so that
    ``RecognizerFFN`` knows T even with several views per sample.

    Args:
        pipeline (list[dict]): Stock pipeline (not modified).
        num_clips (int): Frames per clip at test time, any positive count.
    """
    num_clips = check_frame_count(num_clips, 'num_clips')
    pipeline = [dict(copy.deepcopy(step)) for step in pipeline]
    sampler = pipeline[_sampler_index(pipeline)]
    sampler.pop('num_clips_list', None)
    sampler.update(type='SampleFrames', num_clips=num_clips)
    _add_meta_key(pipeline, 'num_clips')
    _add_meta_key(pipeline, 'clip_len')
    return pipeline


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


def multi_rate_loader(loader: dict, frame_counts: Sequence[int]) -> dict:
    """A training dataloader config with :func:`multi_rate_pipeline`."""
    return _loader_with_pipeline(
        loader, lambda p: multi_rate_pipeline(p, frame_counts))


def fixed_frames_loader(loader: dict, num_clips: int) -> dict:
    """A val/test dataloader config with :func:`fixed_frames_pipeline`."""
    return _loader_with_pipeline(loader,
                                 lambda p: fixed_frames_pipeline(p, num_clips))
