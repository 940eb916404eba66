"""MultiRateSampleFrames and UniqueDecordDecode."""
import numpy as np
import pytest
from mmaction.datasets.transforms import SampleFrames
from mmaction.registry import TRANSFORMS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401

COUNTS = (4, 8, 16)
init_default_scope('mmaction')


def sample(total_frames, test_mode=False, counts=COUNTS, **kwargs):
    t = TRANSFORMS.build(
        dict(
            type='MultiRateSampleFrames',
            num_clips_list=counts,
            test_mode=test_mode,
            **kwargs))
    return t(dict(total_frames=total_frames, start_index=0))


def split(inds, counts=COUNTS):
    return np.split(inds, np.cumsum(counts)[:-1])


def test_keys_and_ranges():
    out = sample(64)
    assert out['frame_inds'].shape == (28, )
    assert out['frame_inds'].dtype == np.int32
    assert out['frame_inds'].min() >= 0 and out['frame_inds'].max() < 64
    assert out['num_clips'] == 28 and out['clip_len'] == 1
    assert out['clip_lens'] == COUNTS


@pytest.mark.parametrize('test_mode', [False, True])
def test_each_count_is_a_tsn_sampling(test_mode):
    np.random.seed(0)
    for _ in range(20):
        for count, inds in zip(COUNTS,
                               split(sample(64, test_mode)['frame_inds'])):
            segment = 64 // count
            # One index inside each of the count's equal segments.
            assert (inds // segment == np.arange(count)).all(), (count, inds)


def test_counts_are_sampled_independently():
    np.random.seed(0)
    draws = [split(sample(64)['frame_inds']) for _ in range(50)]
    # If 4F were derived from 16F (e.g. every 4th frame), this would hold
    # every time.
    subset = sum(set(d[0]) <= set(d[2]) for d in draws)
    assert subset < 25
    # And each count really is random in training.
    assert len({tuple(d[0]) for d in draws}) > 10


@pytest.mark.parametrize('options', [
    dict(),
    dict(test_mode=True),
    dict(keep_tail_frames=True),
    dict(out_of_bound_opt='repeat_last'),
])
def test_equals_sample_frames_per_count_under_the_same_seed(options):
    # Including videos shorter than 16 (10, 3) and than 4 frames (3).
    for total in (64, 40, 10, 3):
        np.random.seed(123)
        ours = sample(total, **options)
        np.random.seed(123)
        stock = []
        for count in COUNTS:
            t = SampleFrames(clip_len=1, num_clips=count, **options)
            stock.append(
                t(dict(total_frames=total, start_index=0))['frame_inds'])
        for a, b in zip(split(ours['frame_inds']), stock):
            np.testing.assert_array_equal(a, b)
        assert ours['num_clips'] == sum(COUNTS)


def test_start_index_is_added_like_sample_frames():
    t = TRANSFORMS.build(dict(type='MultiRateSampleFrames', test_mode=True))
    out = t(dict(total_frames=64, start_index=1))['frame_inds']
    np.testing.assert_array_equal(split(out)[0], [9, 25, 41, 57])


def test_test_mode_is_deterministic_segment_centres():
    a, b = sample(64, True)['frame_inds'], sample(64, True)['frame_inds']
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(split(a)[0], [8, 24, 40, 56])


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match=r'\(8, 4\)'):
        sample(64, counts=(8, 4))
    with pytest.raises(ValueError, match='duplicates'):
        sample(64, counts=(4, 4, 8))
    with pytest.raises(ValueError, match='positive'):
        sample(64, counts=(0, 8))
    with pytest.raises(ValueError, match='num_clips'):
        TRANSFORMS.build(dict(type='MultiRateSampleFrames', num_clips=8))
    with pytest.raises(ValueError, match='clip_len'):
        TRANSFORMS.build(dict(type='MultiRateSampleFrames', clip_len=2))


@pytest.fixture(scope='module')
def video(tmp_path_factory):
    import cv2
    path = str(tmp_path_factory.mktemp('vid') / 'v.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10,
                             (64, 48))
    rng = np.random.default_rng(0)
    for t in range(50):
        frame = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        frame[:, :, 0] = t * 5  # frame index readable in the blue channel
        writer.write(frame)
    writer.release()
    return path


def test_unique_decode_equals_decord_decode(video):
    inds = np.array([3, 3, 10, 0, 10, 49, 3], dtype=np.int32)
    outs = []
    for decode in ('DecordDecode', 'UniqueDecordDecode'):
        pipe = Compose([dict(type='DecordInit'), dict(type=decode)])
        outs.append(
            pipe(
                dict(
                    filename=video,
                    frame_inds=inds.copy(),
                    modality='RGB',
                    start_index=0))['imgs'])
    assert len(outs[1]) == len(inds)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_one_crop_and_one_flip_for_all_frames(video):
    import mmcv
    load = Compose([
        dict(type='DecordInit'),
        dict(type='MultiRateSampleFrames', num_clips_list=COUNTS),
        dict(type='UniqueDecordDecode'),
    ])
    augment = Compose([
        dict(type='RandomResizedCrop'),
        dict(type='Resize', scale=(16, 16), keep_ratio=False),
        dict(type='Flip', flip_ratio=0.5),
        dict(type='FormatShape', input_format='NCHW'),
        dict(
            type='PackActionInputs',
            meta_keys=('flip', 'crop_bbox', 'clip_lens')),
    ])
    np.random.seed(1)
    flips = set()
    for _ in range(6):
        loaded = load(dict(filename=video, modality='RGB', start_index=0))
        frames = [f.copy() for f in loaded['imgs']]
        out = augment(loaded)
        inputs, meta = out['inputs'], out['data_samples'].metainfo
        assert tuple(inputs.shape) == (28, 3, 16, 16)
        assert meta['clip_lens'] == COUNTS
        flips.add(bool(meta['flip']))
        # Every frame, whatever its count, got the one crop and flip.
        x1, y1, x2, y2 = meta['crop_bbox']
        for frame, got in zip(frames, inputs):
            expected = mmcv.imresize(frame[y1:y2, x1:x2], (16, 16))
            if meta['flip']:
                expected = expected[:, ::-1]
            np.testing.assert_array_equal(got.numpy(),
                                          expected.transpose(2, 0, 1))
    assert flips == {True, False}  # random per sample, shared by its frames
