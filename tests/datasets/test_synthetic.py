"""The generated temporal video set."""
import hashlib
import os
import os.path as osp

import decord
import numpy as np
import pytest

from mmffn.datasets.synthetic import (CLASSES, generate_temporal_video_dataset,
                                      render_video)


def digest(root):
    h = hashlib.sha256()
    for name in sorted(os.listdir(osp.join(root, 'videos'))):
        with open(osp.join(root, 'videos', name), 'rb') as f:
            h.update(f.read())
    for ann in ('train.txt', 'val.txt'):
        with open(osp.join(root, ann), 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def test_deterministic_balanced_and_decodable(tmp_path):
    args = dict(num_train=16, num_val=8, num_frames=20, size=32, seed=3)
    a = generate_temporal_video_dataset(str(tmp_path / 'a'), **args)
    generate_temporal_video_dataset(str(tmp_path / 'b'), **args)
    assert digest(tmp_path / 'a') == digest(tmp_path / 'b')
    assert a['classes'] == list(CLASSES)
    lines = open(tmp_path / 'a' / 'train.txt').read().split('\n')[:-1]
    labels = [int(line.split()[1]) for line in lines]
    assert np.bincount(labels).tolist() == [2] * len(CLASSES)
    reader = decord.VideoReader(
        str(tmp_path / 'a' / lines[0].split()[0]))
    assert len(reader) == 20
    assert reader[0].shape == (32, 32, 3)


def test_idempotent_and_regenerates_on_new_parameters(tmp_path):
    root = str(tmp_path / 'd')
    generate_temporal_video_dataset(root, num_train=8, num_val=8,
                                    num_frames=12)
    video = osp.join(root, 'videos', 'train_00000.mp4')
    stamp = os.stat(video).st_mtime_ns
    generate_temporal_video_dataset(root, num_train=8, num_val=8,
                                    num_frames=12)
    assert os.stat(video).st_mtime_ns == stamp
    generate_temporal_video_dataset(root, num_train=8, num_val=8,
                                    num_frames=14)
    assert len(decord.VideoReader(video)) == 14


def test_single_frames_do_not_reveal_the_class():
    """Per class, the mean colour of a frame and of the frame-to-frame
    change are alike; only the order of frames differs."""
    rng = np.random.default_rng(0)
    means = {c: [] for c in range(len(CLASSES))}
    for c in means:
        for _ in range(30):
            frames = render_video(c, rng, 16, 32).astype(np.float32)
            means[c].append(frames[rng.integers(16)].mean())
    overall = np.std([m for v in means.values() for m in v])
    spread = np.std([np.mean(v) for v in means.values()])
    assert spread < 0.35 * overall


def test_grow_changes_more_with_time():
    """In 'grow' the object covers more of the background as time goes on:
    the change from the first frame increases."""
    frames = render_video(CLASSES.index('grow'), np.random.default_rng(1),
                          12, 32)
    sizes = [(np.abs(f.astype(int) - frames[0].astype(int)).sum())
             for f in frames]
    assert sizes[-1] > sizes[1]  # the object grows away from frame 0


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='Unknown classes'):
        generate_temporal_video_dataset(str(tmp_path), classes=('jump', ))
    with pytest.raises(ValueError, match='num_frames'):
        generate_temporal_video_dataset(str(tmp_path), num_frames=0)
