"""Videos: the file named in decord errors, and frame counts checked when
``SampleFrames`` is built.

* ``DecordInit`` fails on an empty, truncated or non-video file, and
  ``DecordDecode`` (and :class:`~mmffn.datasets.transforms.UniqueDecordDecode`,
  which inherits its ``transform``) on a video whose header is intact but
  whose frame data is damaged, with decord errors that name no file; in a
  dataset of thousands of videos the bad one cannot be found.
* ``SampleFrames(num_clips=0)`` fails only when it samples, with a
  ``ZeroDivisionError`` (a negative count with numpy errors), so a test at 0
  frames would read data before it stops; ``UniformSample(clip_len=0)``
  likewise, and ``UniformSample(clip_len=-2)`` or ``num_clips=0`` (test
  mode) sample no frame, which the decoder then reported as a damaged
  video. Both samplers now check their counts when built, and a decode of
  no frame says that the sampler gave none.
"""
import functools

from ..utils import check_frame_count
from .guard import MMACTION2_TESTED, wrap_once

__all__ = [
    'name_the_file_in_video_errors', 'name_the_file_in_decode_errors',
    'check_sample_frames_counts'
]


def _rebuilt(error: Exception, message: str) -> Exception:
    """``error``'s type with ``message``, or a RuntimeError for an
    exception type that needs other arguments."""
    try:
        return type(error)(message)
    except Exception:
        return RuntimeError(message)


def _init_naming_the_file(original):
    """``DecordInit.transform`` whose errors name the video, and which
    refuses a video without frames."""

    @functools.wraps(original)
    def transform(self, results):
        filename = results.get('filename')
        try:
            results = original(self, results)
        except (FileNotFoundError, ImportError, MemoryError):
            raise
        except Exception as error:
            message = (f'Cannot open video {filename!r} with decord '
                       f'({type(error).__name__}: {error}); the file is '
                       'empty, truncated or not a video decord can read.')
            raise _rebuilt(error, message) from error
        if results['total_frames'] <= 0:
            raise ValueError(f'Video {filename!r} has no frames.')
        return results

    return transform


def name_the_file_in_video_errors() -> None:
    """Make ``DecordInit`` say which video it could not open.

    mmaction2's ``DecordInit`` (mmaction/datasets/transforms/loading.py)
    fails on an empty, truncated or non-video file with decord errors that do
    not name it. The error names the file (same exception type), and a
    video without frames raises a ValueError naming it. PyAVInit and
    OpenCVInit are unchanged.
    """
    from mmaction.datasets.transforms.loading import DecordInit
    wrap_once(
        DecordInit,
        'transform',
        _init_naming_the_file,
        package='mmaction2',
        tested=MMACTION2_TESTED,
        patch_name='name_the_file_in_video_errors '
        '(mmaction.datasets.transforms.DecordInit.transform)')


def _decode_naming_the_file(original):
    """``DecordDecode.transform`` whose errors name the video and the number
    of requested frames."""

    @functools.wraps(original)
    def transform(self, results):
        try:
            return original(self, results)
        except MemoryError:
            raise
        except Exception as error:
            filename = results.get('filename', results.get('frame_dir'))
            frames = results.get('frame_inds')
            if frames is not None and len(frames) == 0:
                raise ValueError(
                    f'{type(self).__name__} got no frame to decode from '
                    f'video {filename!r}: the sampler gave 0 frame indices '
                    f"(clip_len={results.get('clip_len')!r}, num_clips="
                    f"{results.get('num_clips')!r}); give the sampler a "
                    'positive clip_len and num_clips.') from error
            count = 'some' if frames is None else len(frames)
            message = (
                f'Cannot decode {count} frames of video {filename!r} with '
                f'{type(self).__name__} ({type(error).__name__}: {error}); '
                'the file opened, so its header is intact, but its frame '
                'data is damaged. Remove it from the annotation file or '
                're-encode it (docs/reliability.md, "Broken videos").')
            raise _rebuilt(error, message) from error

    return transform


def name_the_file_in_decode_errors() -> None:
    """Make ``DecordDecode`` say which video it could not decode.

    The error keeps its type (decord raises ``DECORDError`` or
    ``RuntimeError``) and decord's message, prefixed by the file and the
    requested frames.
    """
    from mmaction.datasets.transforms.loading import DecordDecode
    wrap_once(
        DecordDecode,
        'transform',
        _decode_naming_the_file,
        package='mmaction2',
        tested=MMACTION2_TESTED,
        patch_name='name_the_file_in_decode_errors '
        '(mmaction.datasets.transforms.DecordDecode.transform)')


def _init_checking_counts(original):
    """``SampleFrames.__init__`` that checks ``num_clips`` and
    ``clip_len`` (:func:`~mmffn.utils.check_frame_count`)."""

    @functools.wraps(original)
    def __init__(self, clip_len, *args, **kwargs):
        original(self, clip_len, *args, **kwargs)
        name = type(self).__name__
        # Checked after the original: it sets both, whether passed by
        # position or by keyword.
        check_frame_count(self.num_clips, f'{name} num_clips')
        check_frame_count(self.clip_len, f'{name} clip_len')

    return __init__


def check_sample_frames_counts() -> None:
    """Make ``SampleFrames`` and ``UniformSample`` refuse a non-positive
    ``num_clips`` or ``clip_len`` when they are built (subclasses included),
    naming the value.
    """
    from mmaction.datasets.transforms.loading import (SampleFrames,
                                                      UniformSample)
    for sampler in (SampleFrames, UniformSample):
        wrap_once(
            sampler,
            '__init__',
            _init_checking_counts,
            package='mmaction2',
            tested=MMACTION2_TESTED,
            patch_name='check_sample_frames_counts '
            f'(mmaction.datasets.transforms.{sampler.__name__}.__init__)')
