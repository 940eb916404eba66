"""MultiRateSampleFrames3D: one UniformSample / SampleFrames clip per count."""
import os.path as osp
import random

import numpy as np
import pytest
from mmaction.datasets.transforms import SampleFrames, UniformSample
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401

COUNTS = (4, 8, 16)
init_default_scope('mmaction')


def build(counts=COUNTS, **kwargs):
    return TRANSFORMS.build(
        dict(type='MultiRateSampleFrames3D', clip_len_list=counts, **kwargs))


def sample(total_frames, counts=COUNTS, start_index=0, **kwargs):
    return build(counts, **kwargs)(
        dict(total_frames=total_frames, start_index=start_index))


def seed(value):
    # Both generators, so the comparison holds whichever one a sampler uses.
    np.random.seed(value)
    random.seed(value)


def stock_draws(make, counts, total_frames, start_index=0, **results):
    """The stock sampler of each count, called one after the other."""
    return [
        make(count)(dict(
            total_frames=total_frames, start_index=start_index,
            **results))['frame_inds'] for count in counts
    ]


def split(inds, counts=COUNTS, num_clips=1):
    """Per count, its ``(num_clips, T)`` indices."""
    views = inds.reshape(num_clips, sum(counts))
    return np.split(views, np.cumsum(counts)[:-1], axis=1)


def test_keys_shapes_and_dtype():
    out = sample(64)
    assert out['frame_inds'].shape == (28, )
    assert out['frame_inds'].dtype == np.int32
    assert out['frame_inds'].min() >= 0 and out['frame_inds'].max() < 64
    assert out['clip_len'] == 28 and out['num_clips'] == 1
    assert out['frame_interval'] is None
    assert out['clip_lens'] == COUNTS
    out = sample(64, mode='interval', frame_interval=2)
    assert out['frame_inds'].shape == (28, )
    assert out['clip_len'] == 28 and out['frame_interval'] == 2


# Shorter than every count (3), than the largest (10), long (64, 301).
TOTALS = (1, 3, 10, 64, 301)


@pytest.mark.parametrize('test_mode', [False, True])
@pytest.mark.parametrize('total', TOTALS)
@pytest.mark.parametrize('count', [1, 8, 16])
def test_single_count_equals_uniform_sample(count, total, test_mode):
    seed(7)
    ours = sample(total, counts=(count, ), test_mode=test_mode)
    seed(7)
    stock = UniformSample(
        clip_len=count, test_mode=test_mode)(
            dict(total_frames=total, start_index=0))
    np.testing.assert_array_equal(ours['frame_inds'], stock['frame_inds'])
    assert ours['frame_inds'].dtype == stock['frame_inds'].dtype
    for key in ('clip_len', 'num_clips', 'frame_interval'):
        assert ours[key] == stock[key], key


# MMAction2's own SampleFrames cases (tests/datasets/transforms/
# test_sampling.py) that draw one clip per view, plus short videos.
SAMPLE_FRAMES_CASES = [
    dict(clip_len=3, frame_interval=1, keep_tail_frames=True),
    dict(clip_len=5, frame_interval=1, out_of_bound_opt='repeat_last'),
    dict(clip_len=4, frame_interval=2, temporal_jitter=True),
    dict(clip_len=4, frame_interval=1),
    dict(clip_len=6, frame_interval=1),
    dict(clip_len=12, frame_interval=1),
    dict(clip_len=32, frame_interval=2),  # SlowFast 4x16
    dict(clip_len=16, frame_interval=4, target_fps=15),
]


@pytest.mark.parametrize('test_mode', [False, True])
@pytest.mark.parametrize('total', TOTALS + (30, ))
@pytest.mark.parametrize('case', SAMPLE_FRAMES_CASES)
def test_single_count_equals_sample_frames(case, total, test_mode):
    case = dict(case)
    count = case.pop('clip_len')
    results = dict(total_frames=total, start_index=1, avg_fps=30)
    seed(11)
    ours = build((count, ), mode='interval', test_mode=test_mode, **case)(
        dict(results))
    seed(11)
    stock = SampleFrames(
        clip_len=count, test_mode=test_mode, **case)(
            dict(results))
    np.testing.assert_array_equal(ours['frame_inds'], stock['frame_inds'])
    assert ours['frame_inds'].dtype == stock['frame_inds'].dtype
    for key in ('clip_len', 'num_clips', 'frame_interval'):
        assert ours[key] == stock[key], key


def test_sample_frames_short_video_case_of_mmaction2():
    # MMAction2: clip_len=6 on 5 frames from index 1, test mode: loops.
    out = sample(
        5,
        counts=(6, ),
        start_index=1,
        mode='interval',
        frame_interval=1,
        test_mode=True)
    np.testing.assert_array_equal(out['frame_inds'], [1, 2, 3, 4, 5, 1])


@pytest.mark.parametrize('test_mode', [False, True])
@pytest.mark.parametrize('mode', ['uniform', 'interval'])
def test_counts_concatenated_in_increasing_order(mode, test_mode):
    """Several counts equal the stock samplers drawn one after the other
    from the same random state, smallest count first."""
    interval = dict(frame_interval=2) if mode == 'interval' else {}
    if mode == 'uniform':

        def make(count):
            return UniformSample(clip_len=count, test_mode=test_mode)
    else:

        def make(count):
            return SampleFrames(
                clip_len=count, frame_interval=2, test_mode=test_mode)

    for total in (3, 10, 64, 301):
        seed(3)
        ours = sample(total, mode=mode, test_mode=test_mode, **interval)
        seed(3)
        stock = stock_draws(make, COUNTS, total)
        parts = split(ours['frame_inds'])
        assert [p.size for p in parts] == list(COUNTS)
        for part, expected in zip(parts, stock):
            np.testing.assert_array_equal(part[0], expected)


def test_counts_are_drawn_independently_in_training():
    seed(0)
    draws = [split(sample(64)['frame_inds']) for _ in range(50)]
    # Not derived from the 16-frame clip (e.g. every 4th frame of it).
    assert sum(set(d[0][0]) <= set(d[2][0]) for d in draws) < 25
    assert len({tuple(d[0][0]) for d in draws}) > 10  # random in training


@pytest.mark.parametrize('test_mode', [False, True])
@pytest.mark.parametrize('total', [20, 64, 301])
def test_uniform_every_count_spans_the_video(total, test_mode):
    seed(5)
    for _ in range(20 if not test_mode else 1):
        parts = split(sample(total, test_mode=test_mode)['frame_inds'])
        for count, part in zip(COUNTS, parts):
            inds = part[0]
            segment = (total - 1) / count
            bounds = np.round(segment * np.arange(count + 1)).astype(int)
            # One frame in each of the count's segments, in time order,
            # the first and last segments at the ends of the video.
            assert (inds >= bounds[:-1]).all() and (inds <= bounds[1:]).all()
            assert (np.diff(inds) >= 0).all()
            reach = np.ceil(segment)  # a segment, rounded bounds included
            assert inds[0] <= reach and inds[-1] >= total - 1 - reach


def test_interval_span_grows_with_the_count():
    total, interval = 100, 2
    parts = split(
        sample(
            total, mode='interval', frame_interval=interval,
            test_mode=True)['frame_inds'])
    for count, part in zip(COUNTS, parts):
        inds = part[0]
        np.testing.assert_array_equal(np.diff(inds), interval)
        # Centred: (total - span) // 2 frames before the clip.
        span = (count - 1) * interval + 1
        assert inds[0] == (total - span) // 2
    seed(1)
    for _ in range(20):
        parts = split(
            sample(total, mode='interval',
                   frame_interval=interval)['frame_inds'])
        for count, part in zip(COUNTS, parts):
            assert (np.diff(part[0]) == interval).all()
            assert part[0][-1] < total


@pytest.mark.parametrize('mode', ['uniform', 'interval'])
def test_multi_view_testing_joins_counts_within_each_view(mode):
    """num_clips views for FormatShape('NCTHW'): each view holds every
    count; view v of a count is the stock sampler's clip v."""
    interval = dict(frame_interval=2) if mode == 'interval' else {}
    stock_type = UniformSample if mode == 'uniform' else SampleFrames
    out = sample(
        64, mode=mode, num_clips=3, test_mode=True, start_index=1, **interval)
    assert out['frame_inds'].shape == (84, )
    assert out['num_clips'] == 3 and out['clip_len'] == 28
    for count, part in zip(COUNTS, split(out['frame_inds'], num_clips=3)):
        stock = stock_type(
            clip_len=count, num_clips=3, test_mode=True,
            **interval)(dict(total_frames=64, start_index=1))['frame_inds']
        np.testing.assert_array_equal(part, stock.reshape(3, count))
    # The views differ (different positions within the segments).
    views = out['frame_inds'].reshape(3, 28)
    assert len({tuple(v) for v in views}) == 3


def test_start_index_is_added():
    a = sample(64, test_mode=True)['frame_inds']
    b = sample(64, test_mode=True, start_index=1)['frame_inds']
    np.testing.assert_array_equal(b, a + 1)


def test_no_frames_names_the_video():
    t = build()
    with pytest.raises(ValueError, match=r"'v\.mp4' has total_frames=0"):
        t(dict(total_frames=0, start_index=0, filename='v.mp4'))


@pytest.mark.parametrize('kwargs, message', [
    (dict(clip_len_list=(8, 4)), r'clip_len_list must be sorted ascending, '
     r'got \(8, 4\) \(expected \(4, 8\)\)'),
    (dict(clip_len_list=(4, 4, 8)), 'must not contain duplicates'),
    (dict(clip_len_list=(0, 8)), 'must contain positive ints, got 0'),
    (dict(clip_len_list=16), 'must be a sequence of positive ints'),
    (dict(mode='dense'), r"mode must be one of \('uniform', 'interval'\), "
     "got mode='dense'"),
    (dict(frame_interval=2), "mode='uniform' .* takes no frame_interval, "
     'got frame_interval=2'),
    (dict(out_of_bound_opt='loop'),
     r"mode='uniform' takes no \['out_of_bound_opt'\]"),
    (dict(num_clips=3), 'got num_clips=3 with test_mode=False'),
    (dict(num_clips=0), 'num_clips must be a positive int, got 0'),
    (dict(clip_len=16), 'takes clip_len_list, not clip_len'),
    (dict(mode='interval', twice_sample=True), 'does not support '
     'twice_sample'),
    (dict(mode='interval'), "mode='interval' needs frame_interval"),
    (dict(mode='interval',
          frame_interval=0), 'frame_interval must be a positive int, got 0'),
    (dict(mode='interval', frame_interval=2, out_of_bound_opt='clip'),
     r"out_of_bound_opt must be one of \('loop', 'repeat_last'\), "
     "got 'clip'"),
    (dict(mode='interval', frame_interval=2, jitter=True),
     r"unexpected arguments \['jitter'\] \(expected only \["),
])
def test_bad_arguments_name_the_problem_and_value(kwargs, message):
    kwargs = dict(dict(clip_len_list=COUNTS), **kwargs)
    with pytest.raises(ValueError, match=message):
        TRANSFORMS.build(dict(type='MultiRateSampleFrames3D', **kwargs))


def test_repr():
    assert repr(build(mode='interval', frame_interval=2, test_mode=True)) == (
        "MultiRateSampleFrames3D(clip_len_list=(4, 8, 16), mode='interval', "
        'frame_interval=2, num_clips=1, test_mode=True, options={})')


def _pipeline(sampler, decode, size=16):
    return Compose([
        dict(type='DecordInit'), sampler,
        dict(type=decode),
        dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(
            type='PackActionInputs',
            meta_keys=('img_shape', 'num_clips', 'clip_len', 'clip_lens'))
    ])


@pytest.mark.parametrize('decode', ['DecordDecode', 'UniqueDecordDecode'])
@pytest.mark.parametrize('mode', ['uniform', 'interval'])
def test_pipeline_end_to_end(tiny_video_root, mode, decode):
    """Decode and format once: each count's T slice is the stock
    pipeline's clip of that count."""
    video = osp.join(tiny_video_root, 'videos', 'train_00000.mp4')
    interval = dict(frame_interval=1) if mode == 'interval' else {}
    ours = _pipeline(
        dict(
            type='MultiRateSampleFrames3D',
            clip_len_list=COUNTS,
            mode=mode,
            test_mode=True,
            **interval), decode)
    out = ours(dict(filename=video, modality='RGB', start_index=0))
    inputs, meta = out['inputs'], out['data_samples'].metainfo
    assert tuple(inputs.shape) == (1, 3, 28, 16, 16)
    assert meta['clip_lens'] == COUNTS and meta['clip_len'] == 28
    stock_type = 'UniformSample' if mode == 'uniform' else 'SampleFrames'
    parts = inputs.split(list(COUNTS), dim=2)
    for count, part in zip(COUNTS, parts):
        stock = _pipeline(
            dict(type=stock_type, clip_len=count, test_mode=True, **interval),
            'DecordDecode')
        expected = stock(dict(filename=video, modality='RGB',
                              start_index=0))['inputs']
        assert tuple(expected.shape) == (1, 3, count, 16, 16)
        assert (part == expected).all(), count


def test_pipeline_training_shape(tiny_video_root):
    video = osp.join(tiny_video_root, 'videos', 'train_00001.mp4')
    pipe = Compose([
        dict(type='DecordInit'),
        dict(type='MultiRateSampleFrames3D', clip_len_list=COUNTS),
        dict(type='UniqueDecordDecode'),
        dict(type='RandomResizedCrop'),
        dict(type='Resize', scale=(16, 16), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs', meta_keys=('clip_lens', )),
    ])
    seed(0)
    out = pipe(dict(filename=video, modality='RGB', start_index=0))
    assert tuple(out['inputs'].shape) == (1, 3, 28, 16, 16)
    assert out['data_samples'].metainfo['clip_lens'] == COUNTS
