"""The generated temporal video set."""
import hashlib
import json
import os
import os.path as osp

import decord
import numpy as np
import pytest

from mmffn.datasets.synthetic import (CLASSES, DEMO_CLASSES, _background,
                                      generate_temporal_video_dataset,
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
    args = dict(
        num_train=16,
        num_val=8,
        num_frames=20,
        size=32,
        seed=3,
        classes=CLASSES)
    a = generate_temporal_video_dataset(str(tmp_path / 'a'), **args)
    generate_temporal_video_dataset(str(tmp_path / 'b'), **args)
    assert digest(tmp_path / 'a') == digest(tmp_path / 'b')
    assert a['classes'] == list(CLASSES)
    lines = open(tmp_path / 'a' / 'train.txt').read().split('\n')[:-1]
    labels = [int(line.split()[1]) for line in lines]
    assert np.bincount(labels).tolist() == [2] * len(CLASSES)
    reader = decord.VideoReader(str(tmp_path / 'a' / lines[0].split()[0]))
    assert len(reader) == 20
    assert reader[0].shape == (32, 32, 3)
    assert open(tmp_path / 'a' / 'classes.txt').read().split() == list(CLASSES)


def test_default_classes_are_the_demo_fades(tmp_path):
    manifest = generate_temporal_video_dataset(
        str(tmp_path), num_train=4, num_val=4, num_frames=8)
    assert manifest['classes'] == list(DEMO_CLASSES)
    assert all(c.startswith('fade') for c in DEMO_CLASSES)


def test_idempotent_and_regenerates_on_new_parameters(tmp_path):
    root = str(tmp_path / 'd')
    generate_temporal_video_dataset(
        root, num_train=8, num_val=8, num_frames=12)
    video = osp.join(root, 'videos', 'train_00000.mp4')
    stamp = os.stat(video).st_mtime_ns
    generate_temporal_video_dataset(
        root, num_train=8, num_val=8, num_frames=12)
    assert os.stat(video).st_mtime_ns == stamp
    generate_temporal_video_dataset(
        root, num_train=8, num_val=8, num_frames=14)
    assert len(decord.VideoReader(video)) == 14


def test_regenerates_when_the_renderer_changes(tmp_path, monkeypatch):
    """Data written by an older generator is not silently reused."""
    from mmffn.datasets import synthetic
    root = str(tmp_path / 'd')
    args = dict(num_train=4, num_val=4, num_frames=6)
    first = generate_temporal_video_dataset(root, **args)
    assert first['params']['generator_version'] == \
        synthetic._GENERATOR_VERSION
    video = osp.join(root, 'videos', 'train_00000.mp4')
    inode = os.stat(video).st_ino  # a rewritten file is a new one
    generate_temporal_video_dataset(root, **args)
    assert os.stat(video).st_ino == inode  # same version: reused
    monkeypatch.setattr(synthetic, '_GENERATOR_VERSION',
                        synthetic._GENERATOR_VERSION + 1)
    second = generate_temporal_video_dataset(root, **args)
    assert os.stat(video).st_ino != inode
    assert len(decord.VideoReader(video)) == 6
    assert second['params']['generator_version'] == \
        synthetic._GENERATOR_VERSION


def test_single_frames_do_not_reveal_the_class():
    """Per class, the mean colour of a random frame is alike; only the
    change between frames differs."""
    rng = np.random.default_rng(0)
    means = {c: [] for c in range(len(CLASSES))}
    for c in means:
        for _ in range(30):
            frames = render_video(c, rng, 16, 32).astype(np.float32)
            means[c].append(frames[rng.integers(16)].mean())
    overall = np.std([m for v in means.values() for m in v])
    spread = np.std([np.mean(v) for v in means.values()])
    assert spread < 0.35 * overall


def test_slow_sampled_4x_sparser_changes_at_least_like_fast():
    """The rate of change is the class: with the same object, a slow fade
    sampled every 12 frames changes 4/3 as much per step as a fast fade
    sampled every 3 (default speed ratio 3), so a 16-frame model meets
    slow videos at 4 frames that look faster than its fast ones."""

    def render(label, **kwargs):
        return render_video(
            CLASSES.index(label), np.random.default_rng(5), 49, 32,
            **kwargs).astype(np.float64)

    slow, fast = render('fade_in_slow'), render('fade_in_fast')
    obj = np.abs(fast[-1] - fast[0]).sum(-1) > 30
    slow_sparse = np.abs(slow[12] - slow[0])[obj].mean()
    fast_dense = np.abs(fast[3] - fast[0])[obj].mean()
    slow_dense = np.abs(slow[3] - slow[0])[obj].mean()
    assert slow_sparse == pytest.approx(4 / 3 * fast_dense, rel=0.15)
    assert fast_dense == pytest.approx(3 * slow_dense, rel=0.25)
    # The ratio is a parameter.
    slow4 = render('fade_in_slow', speed_ratio=4.0)
    assert np.abs(slow4[12] - slow4[0])[obj].mean() == pytest.approx(
        fast_dense, rel=0.15)


def test_slow_fades_move_pixels_by_grey_levels_per_step():
    """Saturated colours keep a slow fade's change per 16-frame step (3 of
    48 video frames) at a few grey levels on average over the object."""
    rng = np.random.default_rng(7)
    steps = []
    for _ in range(20):
        frames = render_video(CLASSES.index('fade_out_slow'), rng, 48,
                              32).astype(np.float64)
        obj = np.abs(frames[-1] - frames[0]).sum(-1) > 0
        steps.append(np.abs(frames[3] - frames[0])[obj].mean())
    assert np.mean(steps) > 1.8, steps


def test_approach_grows_and_recede_shrinks():
    for label, sign in (('approach_fast', 1), ('recede_slow', -1)):
        frames = render_video(
            CLASSES.index(label), np.random.default_rng(3), 12, 32)
        # The background is the first thing drawn from the generator.
        background = _background(np.random.default_rng(3), 32).astype(int)
        areas = np.array([(np.abs(f - background).sum(-1) > 30).sum()
                          for f in frames])
        assert np.all(sign * np.diff(areas) >= 0), areas
        assert sign * (areas[-1] - areas[0]) > 0.2 * areas.max(), areas


def test_fade_in_brightens_and_fade_out_darkens():
    rng = np.random.default_rng(2)
    for label, sign in (('fade_in_fast', 1), ('fade_out_fast', -1)):
        frames = render_video(CLASSES.index(label), rng, 12, 32)
        # The object pixels are those that change; their brightness moves
        # in one direction frame after frame.
        moving = np.abs(frames[-1].astype(int) - frames[0]).sum(-1) > 30
        levels = [f[moving].mean() for f in frames]
        assert np.all(sign * np.diff(levels) > 0)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='Unknown classes'):
        generate_temporal_video_dataset(str(tmp_path), classes=('jump', ))
    with pytest.raises(ValueError, match='num_frames'):
        generate_temporal_video_dataset(str(tmp_path), num_frames=0)
    with pytest.raises(ValueError, match='speed_ratio must be > 1'):
        generate_temporal_video_dataset(str(tmp_path), speed_ratio=1)
    with pytest.raises(ValueError, match='fast_span'):
        generate_temporal_video_dataset(str(tmp_path), fast_span=1.5)


def test_command_writes_with_the_generator_defaults(tmp_path):
    """tools/generate_demo_data.py passes what it is given and takes every
    other value from generate_temporal_video_dataset itself."""
    import inspect
    import sys

    from e2e_helpers import run_tool
    out = tmp_path / 'cmd'
    proc = run_tool([
        sys.executable, 'tools/generate_demo_data.py', '--out',
        str(out), '--num-train', '4', '--num-val', '2', '--num-frames', '6',
        '--speed-ratio', '2.5'
    ])
    assert '4 classes, 4 train / 2 val videos' in proc.stdout
    params = json.load(open(out / 'manifest.json'))['params']
    defaults = inspect.signature(generate_temporal_video_dataset).parameters
    assert params['speed_ratio'] == 2.5
    assert params['num_frames'] == 6
    for name in ('size', 'seed', 'fast_span'):
        assert params[name] == defaults[name].default
    assert params['classes'] == list(DEMO_CLASSES)


@pytest.mark.parametrize('name, flashes', [('flash_once', 1),
                                           ('flash_twice', 2)])
def test_flash_classes_flash_for_num_frames_over_16(name, flashes):
    """48 frames: each flash is 3 frames long, so 16 evenly sampled frames
    (every third) see every flash once and 4 (every twelfth) may miss it."""
    from mmffn.datasets.synthetic import ALL_CLASSES
    for seed in range(5):
        frames = render_video(
            ALL_CLASSES.index(name), np.random.default_rng(seed), 48,
            32).astype(np.float64)
        # The object's pixels: those that change over the video.
        obj = np.abs(frames - frames[0]).sum(-1).max(0) > 60
        brightness = frames[:, obj].mean(axis=(1, 2))
        bright = brightness > (brightness.min() + brightness.max()) / 2
        assert bright.sum() == 3 * flashes
        starts = np.flatnonzero(np.diff(bright.astype(int)) == 1) + 1
        starts = list(starts) + ([0] if bright[0] else [])
        assert len(starts) == flashes  # separate spells, never merged
        assert bright[1::3].sum() == flashes  # 16 frames: every flash


def test_flash_needs_four_spells_of_frames():
    from mmffn.datasets.synthetic import ALL_CLASSES
    with pytest.raises(
            ValueError,
            match='flash_twice needs at least 4 '
            'frames, got num_frames=3'):
        render_video(
            ALL_CLASSES.index('flash_twice'), np.random.default_rng(0), 3, 16)
