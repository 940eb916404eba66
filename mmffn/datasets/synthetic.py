"""A generated temporal video set: the class is how the video changes.

Each video shows one object (random shape, colour, size and place) on a
random static textured background. Over the video the object either fades
in or out (its brightness ramps up or down) or approaches or recedes (it
grows or shrinks), and it does so slowly or fast: the fast classes change
``speed_ratio`` times as much per video frame as the slow ones. Start levels
are random, so any single frame is compatible with every class; only the
direction and the rate of change between frames tell them apart.

Why it shows Temporal Frequency Deviation: a model sees the change between
neighbouring *sampled* frames. Sampling 16 frames of a 48-frame video,
neighbours are 3 video frames apart; sampling 4, they are 12 apart, so every
video changes 4 times as much per step, and a slow video (3 times slower
than a fast one by default) looks faster than a fast one did at 16 frames.
A TSM trained at 16 frames learned its features, BatchNorm statistics and
decision boundary at the 16-frame spacing and calls the slow videos fast at
4 frames. FFN gives each frame count its own BatchNorm statistics and
adapters, which absorb the change of scale, while the convolutions stay
shared.

Two more classes, not in the demo, make a set where a few frames genuinely
hold less (:data:`FLASH_CLASSES`): a dim object flashes once or twice for a
few frames, and a sparse sample may miss a flash.

The files are real videos (``mp4v``), decoded by MMAction2's normal
``DecordInit``/``DecordDecode`` pipeline, with ``VideoDataset`` annotation
lists ``train.txt`` and ``val.txt`` and a ``classes.txt``.
"""
import hashlib
import json
import math
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import cv2
import numpy as np

__all__ = [
    'CLASSES', 'DEMO_CLASSES', 'FLASH_CLASSES', 'ALL_CLASSES', 'render_video',
    'generate_temporal_video_dataset'
]

CLASSES = ('fade_in_slow', 'fade_in_fast', 'fade_out_slow', 'fade_out_fast',
           'approach_slow', 'approach_fast', 'recede_slow', 'recede_fast')
# The demo's default: the fades are learned from scratch within the CPU
# budget; the size changes are there for a harder set (``classes=CLASSES``).
DEMO_CLASSES = CLASSES[:4]
# A set where few frames genuinely hold less: the object flashes (one
# bright spell of num_frames / 16 frames) once or twice. 16 frames sampled
# from 48 always see a 3-frame flash, 8 see it half the time, 4 a quarter,
# so a 4-frame clip often cannot tell the classes apart (cascade study).
FLASH_CLASSES = ('flash_once', 'flash_twice')
ALL_CLASSES = CLASSES + FLASH_CLASSES
_FLASH_LEVEL = 1.0

# Ranges the changing quantity moves in: brightness as a factor on the
# object's colour, size as the log of the radius relative to the frame.
_BRIGHTNESS = (0.1, 1.0)
_LOG_RADIUS = (math.log(0.06), math.log(0.45))

_MANIFEST = 'manifest.json'
# Bump when the rendering changes, so that data written by an older version
# is regenerated instead of silently reused (the manifest records it).
_GENERATOR_VERSION = 2


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static random texture: base colour plus smooth noise."""
    base = rng.integers(30, 226, size=3)
    coarse = rng.normal(0, 12, size=(max(size // 8, 2), max(size // 8, 2), 3))
    noise = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _object_colour(rng: np.random.Generator, background: np.ndarray):
    """A saturated colour (brightest channel 255) far enough from the
    background's mean to be seen.

    Saturating makes the brightness ramps as large as the 8-bit range allows,
    so a slow fade still moves the object's pixels by several grey levels per
    sampled step, well above the video codec's noise.
    """
    mean = background.reshape(-1, 3).mean(0)
    for _ in range(20):
        colour = rng.integers(0, 256, size=3).astype(np.float64)
        colour *= 255.0 / max(colour.max(), 1.0)
        if np.abs(colour - mean).sum() > 150:
            break
    return colour


def _draw(frame: np.ndarray, shape: str, centre, radius: float, angle: float,
          colour) -> None:
    """Draw a filled disc, bar or triangle."""
    cx, cy = centre
    colour = tuple(float(c) for c in colour)
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


def _ramp(rng: np.random.Generator, low: float, high: float, span: float,
          rising: bool, num_frames: int) -> np.ndarray:
    """``num_frames`` values changing linearly by ``span`` of ``[low,
    high]`` over the video, from a random start that keeps them inside."""
    total = span * (high - low)
    start = rng.uniform(low, high - total)
    values = start + total * np.linspace(0, 1, num_frames)
    return values if rising else values[::-1]


def _flash_levels(rng: np.random.Generator, name: str,
                  num_frames: int) -> np.ndarray:
    """A dim constant level with one or two bright spells of
    ``num_frames / 16`` frames (at least one), apart by at least two spell
    lengths so that two never merge."""
    length = max(1, round(num_frames / 16))
    flashes = 1 if name == 'flash_once' else 2
    if num_frames < 4 * length:
        raise ValueError(f'{name} needs at least {4 * length} frames, got '
                         f'num_frames={num_frames}')
    levels = np.full(num_frames, rng.uniform(0.25, 0.45))
    while True:
        starts = np.sort(rng.integers(0, num_frames - length + 1, flashes))
        if flashes == 1 or starts[1] - starts[0] >= 3 * length:
            break
    for start in starts:
        levels[start:start + length] = _FLASH_LEVEL
    return levels


def render_video(label: int,
                 rng: np.random.Generator,
                 num_frames: int,
                 size: int,
                 fast_span: float = 0.9,
                 speed_ratio: float = 3.0) -> np.ndarray:
    """Frames ``(num_frames, size, size, 3)`` (BGR, uint8) of one class.

    Args:
        label (int): Index into :data:`ALL_CLASSES`.
        rng (np.random.Generator): Source of all randomness.
        num_frames (int): Frames of the video.
        size (int): Frame width and height in pixels.
        fast_span (float): Part of the brightness (or log-size) range a fast
            class crosses over the video, in (0, 1].
        speed_ratio (float): How many times faster the fast classes change
            than the slow ones, > 1.
    """
    name = ALL_CLASSES[label]
    background = _background(rng, size)
    colour = _object_colour(rng, background)
    shape = ('disc', 'bar', 'triangle')[rng.integers(3)]
    angle = rng.uniform(0, 2 * math.pi)
    centre = size * (0.5 + rng.uniform(-0.15, 0.15, size=2))
    span = fast_span if name.endswith('fast') else fast_span / speed_ratio
    rising = name.startswith(('fade_in', 'approach'))
    if name.startswith('fade'):
        levels = _ramp(rng, *_BRIGHTNESS, span, rising, num_frames)
        radii = np.full(num_frames, rng.uniform(0.16, 0.3) * size)
    elif name.startswith('flash'):
        levels = _flash_levels(rng, name, num_frames)
        radii = np.full(num_frames, rng.uniform(0.16, 0.3) * size)
    else:
        levels = np.full(num_frames, rng.uniform(0.6, 1.0))
        radii = size * np.exp(
            _ramp(rng, *_LOG_RADIUS, span, rising, num_frames))
    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        frames[t] = background
        _draw(frames[t], shape, centre, radii[t], angle, colour * levels[t])
    return frames


def _write_video(path: str, frames: np.ndarray, fps: int = 15) -> None:
    size = frames.shape[2], frames.shape[1]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write mp4v video {path}')
    for frame in frames:
        writer.write(frame)
    writer.release()


def _write_atomically(path: str, write) -> None:
    """``write(temporary path)``, then rename it to ``path``: a kill leaves
    the old file or the new one, never half of one. The temporary name keeps
    the extension (OpenCV picks the container from it)."""
    folder, name = osp.split(path)
    temporary = osp.join(folder, f'.{os.getpid()}.tmp.{name}')
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if osp.exists(temporary):
            os.remove(temporary)


def _write_json(path: str, value) -> None:
    with open(path, 'w') as f:
        json.dump(value, f, indent=1)


def _write_text(path: str, text: str) -> None:

    def write(temporary):
        with open(temporary, 'w') as f:
            f.write(text)

    _write_atomically(path, write)


def _file_record(path: str) -> Dict:
    """Size and SHA-256 of a written file, as the manifest records it."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return dict(size=osp.getsize(path), sha256=digest.hexdigest())


def _own_manifest(root: str) -> Optional[Dict]:
    """The manifest in ``root`` if this generator wrote one (finished or
    not), else None."""
    try:
        with open(osp.join(root, _MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(manifest, dict) and isinstance(manifest.get('params'), dict):
        return manifest
    return None


def _is_complete(root: str, manifest: Dict, params: Dict) -> bool:
    """Whether ``root`` holds exactly what ``manifest`` records for
    ``params``: every file with its size and SHA-256."""
    files = manifest.get('files')
    if manifest['params'] != params or not isinstance(files, dict):
        return False
    for rel, record in files.items():
        path = osp.join(root, rel)
        if not (isinstance(record, dict) and osp.isfile(path)
                and osp.getsize(path) == record.get('size')
                and _file_record(path) == record):
            return False
    return True


def generate_temporal_video_dataset(root: str,
                                    num_train: int = 1200,
                                    num_val: int = 400,
                                    num_frames: int = 48,
                                    size: int = 32,
                                    seed: int = 0,
                                    classes: Optional[Sequence[str]] = None,
                                    fast_span: float = 0.9,
                                    speed_ratio: float = 3.0,
                                    force: bool = False) -> Dict:
    """Write the data set under ``root`` unless it is already there.

    Classes are balanced (videos go round-robin over the classes). The same
    arguments always give the same videos; a ``manifest.json``, written
    last, records the arguments and the size and SHA-256 of every file, and
    a second call with equal arguments returns without writing only when
    every file still matches it (a run killed part-way is redone). Each file
    is written to a temporary name and renamed. A non-empty ``root`` that
    holds no manifest of this generator is refused unless ``force``.

    Args:
        root (str): Output folder (``videos/``, ``train.txt``, ``val.txt``,
            ``classes.txt``, ``manifest.json``).
        num_train (int): Training videos.
        num_val (int): Validation videos.
        num_frames (int): Frames per video.
        size (int): Frame side in pixels.
        seed (int): Random seed.
        classes (Sequence[str], optional): Subset of :data:`ALL_CLASSES`;
            default :data:`DEMO_CLASSES`.
        fast_span (float): See :func:`render_video`.
        speed_ratio (float): See :func:`render_video`.
        force (bool): Write into a non-empty folder that is not this
            generator's output. Defaults to False.

    Returns:
        dict: The manifest (arguments, class names, annotation files).
    """
    classes = tuple(DEMO_CLASSES if classes is None else classes)
    unknown = [c for c in classes if c not in ALL_CLASSES]
    if unknown or not classes:
        raise ValueError(
            f'Unknown classes {unknown}; choose from {ALL_CLASSES}')
    for name, value in (('num_train', num_train), ('num_val', num_val),
                        ('num_frames', num_frames), ('size', size)):
        if int(value) != value or value <= 0:
            raise ValueError(f'{name} must be a positive int, got {value!r}')
    if not 0 < fast_span <= 1:
        raise ValueError(f'fast_span must be in (0, 1], got {fast_span!r}')
    if not speed_ratio > 1:
        raise ValueError(f'speed_ratio must be > 1, got {speed_ratio!r}')
    params = dict(
        generator_version=_GENERATOR_VERSION,
        num_train=num_train,
        num_val=num_val,
        num_frames=num_frames,
        size=size,
        seed=seed,
        classes=list(classes),
        fast_span=fast_span,
        speed_ratio=speed_ratio)
    previous = _own_manifest(root)
    if previous is not None and _is_complete(root, previous, params):
        return previous
    if previous is None and osp.isdir(root) and os.listdir(root) and not force:
        raise FileExistsError(
            f'{root} is not empty and holds no data set of this generator '
            f'(no readable {_MANIFEST}); refusing to write into it. Choose an '
            'empty or new folder, or pass force=True '
            '(tools/generate_demo_data.py --force) to write there anyway.')
    os.makedirs(osp.join(root, 'videos'), exist_ok=True)
    # First an unfinished manifest: until the last line below, the folder is
    # known as this generator's output but never taken as complete.
    _write_atomically(
        osp.join(root, _MANIFEST),
        lambda path: _write_json(path, dict(params=params, files=None)))
    labels = [ALL_CLASSES.index(c) for c in classes]
    rng = np.random.default_rng(seed)
    files = []
    for split, count in (('train', num_train), ('val', num_val)):
        lines = []
        for i in range(count):
            label = i % len(classes)
            frames = render_video(labels[label], rng, num_frames, size,
                                  fast_span, speed_ratio)
            rel = f'videos/{split}_{i:05d}.mp4'
            _write_atomically(
                osp.join(root, rel),
                lambda path, frames=frames: _write_video(path, frames))
            lines.append(f'{rel} {label}')
            files.append(rel)
        _write_text(osp.join(root, f'{split}.txt'), '\n'.join(lines) + '\n')
    _write_text(osp.join(root, 'classes.txt'), '\n'.join(classes) + '\n')
    files += ['train.txt', 'val.txt', 'classes.txt']
    manifest = dict(
        params=params,
        classes=list(classes),
        train_ann='train.txt',
        val_ann='val.txt',
        files={rel: _file_record(osp.join(root, rel))
               for rel in files})
    # Last: the manifest is complete only once every file it names is.
    _write_atomically(
        osp.join(root, _MANIFEST), lambda path: _write_json(path, manifest))
    return manifest
