"""A video whose header is intact but whose frame data is damaged: decord
opens it and fails while decoding; the error must name the file.

(Files that do not open at all are DecordInit's, tested in
tests/e2e/test_reliability_errors.py.)"""
import os.path as osp
import re

import cv2
import decord
import numpy as np
import pytest
from decord import DECORDError
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401

init_default_scope('mmaction')
NUM_FRAMES = 30
# decord raises its DECORDError or a RuntimeError; mmffn keeps the type.
DECORD_ERRORS = (DECORDError, RuntimeError)


def write_damaged_video(path: str) -> None:
    """30 frames of noise as MPEG-4 (cv2 puts the frame data, 'mdat',
    before the index, 'moov'), then the middle half of the frame data
    overwritten: the header and index stay intact."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10,
                             (64, 64))
    rng = np.random.RandomState(0)
    for _ in range(NUM_FRAMES):
        writer.write(rng.randint(0, 256, (64, 64, 3), dtype=np.uint8))
    writer.release()
    with open(path, 'rb') as f:
        data = bytearray(f.read())
    start, end = data.find(b'mdat') + 4, data.find(b'moov')
    assert 0 < start < end, 'expected the frame data before the index'
    quarter = (end - start) // 4
    data[start + quarter:end - quarter] = bytes(
        (i * 37) % 256 for i in range(end - start - 2 * quarter))
    with open(path, 'wb') as f:
        f.write(bytes(data))


@pytest.fixture(scope='module')
def damaged_video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('damaged') / 'damaged.mp4')
    write_damaged_video(path)
    return path


def test_plain_decord_opens_the_file_and_fails_while_decoding(damaged_video):
    reader = decord.VideoReader(damaged_video)
    assert len(reader) == NUM_FRAMES  # the header is intact
    with pytest.raises(DECORD_ERRORS, match='Error sending packet') as error:
        reader.get_batch(list(range(NUM_FRAMES))).asnumpy()
    assert damaged_video not in str(error.value)


@pytest.mark.parametrize('sampler,decoder,frames', [
    (dict(
        type='SampleFrames', clip_len=1, num_clips=NUM_FRAMES,
        test_mode=True), 'DecordDecode', NUM_FRAMES),
    (dict(
        type='MultiRateSampleFrames',
        num_clips_list=(4, 8, 16),
        test_mode=True), 'UniqueDecordDecode', 28),
])
def test_decode_error_names_the_file(damaged_video, sampler, decoder, frames):
    pipeline = Compose([dict(type='DecordInit'), sampler, dict(type=decoder)])
    with pytest.raises(DECORD_ERRORS) as error:
        pipeline(dict(filename=damaged_video, start_index=0))
    message = str(error.value)
    assert message.startswith(
        f'Cannot decode {frames} frames of video {damaged_video!r} with '
        f'{decoder} (')
    assert 'Error sending packet' in message  # decord's own words kept
    assert isinstance(error.value.__cause__, DECORD_ERRORS)


def test_a_training_dataset_names_the_damaged_video(damaged_video):
    """What a training run shows: VideoDataset + the FFN pipeline."""
    from mmaction.datasets import VideoDataset
    folder = osp.dirname(damaged_video)
    ann = osp.join(folder, 'ann.txt')
    with open(ann, 'w') as f:
        f.write(f'{osp.basename(damaged_video)} 0\n')
    dataset = VideoDataset(
        ann,
        data_prefix=dict(video=folder),
        pipeline=[
            dict(type='DecordInit'),
            dict(type='MultiRateSampleFrames', num_clips_list=(4, 8, 16)),
            dict(type='UniqueDecordDecode'),
        ])
    with pytest.raises(DECORD_ERRORS, match=re.escape(repr(damaged_video))):
        dataset[0]
