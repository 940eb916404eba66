"""A generated temporal video set: the class is in the motion, not a frame.

Each video shows one object (random shape, colour and size) on a random
static textured background, moving in one of eight ways: translating right,
left, down or up (wrapping around the frame edges, so positions are
uniform), growing or shrinking, or rotating clockwise or counter-clockwise.
Any single frame is compatible with every class; only the order of frames
tells them apart.

Why it shows Temporal Frequency Deviation: a TSM compares features of
neighbouring sampled frames. Sampling 16 of ``num_frames`` frames, neighbours
are a few frames apart and the object moves a few pixels between them;
sampling 4, they are four times further apart and the object jumps four
times as far. A model that learned motion features (and BatchNorm
statistics of the shifted features) at one spacing sees a different
distribution at the other; FFN trains a branch per spacing.

The files are real videos (``mp4v``), decoded by MMAction2's normal
``DecordInit``/``DecordDecode`` pipeline, with ``VideoDataset`` annotation
lists ``train.txt`` and ``val.txt`` and a ``classes.txt``.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

CLASSES = ('move_right', 'move_left', 'move_down', 'move_up', 'grow',
           'shrink', 'rotate_clockwise', 'rotate_counterclockwise')

_MANIFEST = 'manifest.json'


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static random texture: base colour plus smooth noise."""
    base = rng.integers(30, 226, size=3)
    coarse = rng.normal(0, 12, size=(max(size // 8, 2), max(size // 8, 2),
                                     3))
    noise = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _object_colour(rng: np.random.Generator, background: np.ndarray):
    """A colour far enough from the background's mean to be visible."""
    mean = background.reshape(-1, 3).mean(0)
    for _ in range(20):
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour - mean).sum() > 150:
            break
    return tuple(int(c) for c in colour)


def _draw(frame: np.ndarray, shape: str, centre, radius: float, angle: float,
          colour) -> None:
    """Draw an object; the rotated bar and triangle show orientation."""
    cx, cy = centre
    if shape == 'disc':
        cv2.circle(frame, (int(round(cx)), int(round(cy))),
                   max(int(round(radius)), 1), colour, -1, cv2.LINE_AA)
        return
    if shape == 'bar':
        half_w, half_h = radius, max(radius / 3.0, 1.0)
        corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h),
                   (-half_w, half_h)]
    else:  # triangle
        corners = [(radius * math.cos(a), radius * math.sin(a))
                   for a in (0.0, 2.2, 4.1)]
    c, s = math.cos(angle), math.sin(angle)
    points = np.array([[cx + x * c - y * s, cy + x * s + y * c]
                       for x, y in corners])
    cv2.fillPoly(frame, [np.round(points).astype(np.int32)], colour,
                 cv2.LINE_AA)


def render_video(label: int, rng: np.random.Generator, num_frames: int,
                 size: int, speed_range=(0.35, 0.8)) -> np.ndarray:
    """Frames ``(num_frames, size, size, 3)`` (BGR, uint8) of one class.

    Args:
        label (int): Index into :data:`CLASSES`.
        rng (np.random.Generator): Source of all randomness.
        num_frames (int): Frames of the video.
        size (int): Frame width and height in pixels.
        speed_range (tuple[float]): Translation speed in pixels per frame;
            growth and rotation speeds scale with it.
    """
    name = CLASSES[label]
    background = _background(rng, size)
    colour = _object_colour(rng, background)
    shape = ('bar', 'triangle')[rng.integers(2)] if 'rotate' in name else \
        ('disc', 'bar', 'triangle')[rng.integers(3)]
    speed = rng.uniform(*speed_range)
    radius = rng.uniform(0.16, 0.26) * size
    start = rng.uniform(0, size, size=2)
    angle0 = rng.uniform(0, 2 * math.pi)
    direction = dict(move_right=(1, 0), move_left=(-1, 0),
                     move_down=(0, 1), move_up=(0, -1)).get(name, (0, 0))
    # Growth: radius between 0.06 and 0.30 of the frame, either way.
    small, large = 0.06 * size, 0.30 * size
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        frame = background.copy()
        progress = t / max(num_frames - 1, 1)
        r, angle, centre = radius, angle0, start
        if name == 'grow':
            r = small + (large - small) * progress
            centre = (size / 2 + start[0] / 4 - size / 8,
                      size / 2 + start[1] / 4 - size / 8)
        elif name == 'shrink':
            r = large - (large - small) * progress
            centre = (size / 2 + start[0] / 4 - size / 8,
                      size / 2 + start[1] / 4 - size / 8)
        elif name.startswith('rotate'):
            sign = 1 if name == 'rotate_clockwise' else -1
            # ~3-7 degrees per frame for the speed range above.
            angle = angle0 + sign * t * speed * 0.15
            centre = (size / 2 + start[0] / 4 - size / 8,
                      size / 2 + start[1] / 4 - size / 8)
        else:
            moved = start + speed * t * np.array(direction)
            centre = tuple(np.mod(moved, size))
        # Draw wrapped copies so objects leaving one edge enter the other.
        for dx in (-size, 0, size):
            for dy in (-size, 0, size):
                _draw(frame, shape, (centre[0] + dx, centre[1] + dy), r,
                      angle, colour)
        frames[t] = frame
    return frames


def _write_video(path: str, frames: np.ndarray, fps: int = 15) -> None:
    size = frames.shape[2], frames.shape[1]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                             size)
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write mp4v video {path}')
    for frame in frames:
        writer.write(frame)
    writer.release()


def generate_temporal_video_dataset(root: str,
                                    num_train: int = 480,
                                    num_val: int = 160,
                                    num_frames: int = 40,
                                    size: int = 32,
                                    seed: int = 0,
                                    classes: Optional[Sequence[str]] = None,
                                    speed_range=(0.35, 0.8)) -> Dict:
    """Write the data set under ``root`` unless it is already there.

    Classes are balanced (videos go round-robin over the classes). The same
    arguments always give the same videos; a ``manifest.json`` records them,
    and a second call with equal arguments returns without writing.

    Args:
        root (str): Output folder (``videos/``, ``train.txt``, ``val.txt``,
            ``classes.txt``, ``manifest.json``).
        num_train (int): Training videos.
        num_val (int): Validation videos.
        num_frames (int): Frames per video.
        size (int): Frame side in pixels.
        seed (int): Random seed.
        classes (Sequence[str], optional): Subset of :data:`CLASSES`.
        speed_range (tuple[float]): Pixels per frame of the translations.

    Returns:
        dict: The manifest (arguments, class names, annotation files).
    """
    classes = tuple(CLASSES if classes is None else classes)
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes:
        raise ValueError(f'Unknown classes {unknown}; choose from {CLASSES}')
    for name, value in (('num_train', num_train), ('num_val', num_val),
                        ('num_frames', num_frames), ('size', size)):
        if int(value) != value or value <= 0:
            raise ValueError(f'{name} must be a positive int, got {value!r}')
    params = dict(num_train=num_train, num_val=num_val,
                  num_frames=num_frames, size=size, seed=seed,
                  classes=list(classes), speed_range=list(speed_range))
    manifest_path = osp.join(root, _MANIFEST)
    if osp.isfile(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        if manifest.get('params') == params and all(
                osp.isfile(osp.join(root, manifest[k]))
                for k in ('train_ann', 'val_ann')):
            return manifest
    os.makedirs(osp.join(root, 'videos'), exist_ok=True)
    labels = [CLASSES.index(c) for c in classes]
    rng = np.random.default_rng(seed)
    for split, count in (('train', num_train), ('val', num_val)):
        lines = []
        for i in range(count):
            label = i % len(classes)
            frames = render_video(labels[label], rng, num_frames, size,
                                  speed_range)
            rel = f'videos/{split}_{i:05d}.mp4'
            _write_video(osp.join(root, rel), frames)
            lines.append(f'{rel} {label}')
        with open(osp.join(root, f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
    with open(osp.join(root, 'classes.txt'), 'w') as f:
        f.write('\n'.join(classes) + '\n')
    manifest = dict(params=params, classes=list(classes),
                    train_ann='train.txt', val_ann='val.txt')
    with open(manifest_path, 'w') as f:
        json.dump(manifest, f, indent=1)
    return manifest
