"""Clear errors from two stock MMAction2 transforms that FFN pipelines use.

* ``DecordDecode`` (and :class:`UniqueDecordDecode`, which inherits its
  ``transform``) fails on a video whose header is intact but whose frame
  data is damaged with decord's ``avcodec_send_packet ... Error sending
  packet``, which names no file. The error now names it, as
  ``mmffn.reliability_patches.name_the_file_in_video_errors`` does for
  ``DecordInit``.
* ``SampleFrames(num_clips=0)`` fails only when it samples, with a
  ``ZeroDivisionError`` (a negative count with numpy errors). ``num_clips``
  and ``clip_len`` are now checked when the transform is built, so a test
  at 0 frames stops before any data is read, naming the value.

Both are patches of upstream classes, made like those of
:mod:`mmffn.reliability_patches` (version-guarded, original kept as
``__wrapped__``, applied once); ``apply_reliability_patches`` applies them,
so ``import mmffn`` does.
"""
import functools

from ...compat import (MMACTION2_TESTED, _mmaction2_version, is_patched,
                       require_version)
from ...utils import check_frame_count


def name_the_file_in_decode_errors() -> None:
    """Make ``DecordDecode`` say which video it could not decode.

    The error keeps its type (decord raises ``DECORDError`` or
    ``RuntimeError``) and decord's message, prefixed by the file and the
    requested frames.
    """
    from mmaction.datasets.transforms.loading import DecordDecode
    require_version(
        'mmaction2', _mmaction2_version(), MMACTION2_TESTED,
        'name_the_file_in_decode_errors '
        '(mmaction.datasets.transforms.DecordDecode.transform)')
    original = DecordDecode.transform
    if is_patched(original):
        return

    @functools.wraps(original)
    def transform(self, results):
        try:
            return original(self, results)
        except MemoryError:
            raise
        except Exception as error:
            filename = results.get('filename', results.get('frame_dir'))
            frames = results.get('frame_inds')
            count = 'some' if frames is None else len(frames)
            message = (
                f'Cannot decode {count} frames of video {filename!r} with '
                f'{type(self).__name__} ({type(error).__name__}: {error}); '
                'the file opened, so its header is intact, but its frame '
                'data is damaged. Remove it from the annotation file or '
                're-encode it (docs/reliability.md, "Broken videos").')
            try:
                wrapped = type(error)(message)
            except Exception:  # an exception type needing other arguments
                wrapped = RuntimeError(message)
            raise wrapped from error

    DecordDecode.transform = transform


def check_sample_frames_counts() -> None:
    """Make ``SampleFrames`` refuse a non-positive ``num_clips`` or
    ``clip_len`` when it is built (subclasses included), naming the value.
    """
    from mmaction.datasets.transforms.loading import SampleFrames
    require_version(
        'mmaction2', _mmaction2_version(), MMACTION2_TESTED,
        'check_sample_frames_counts '
        '(mmaction.datasets.transforms.SampleFrames.__init__)')
    original = SampleFrames.__init__
    if is_patched(original):
        return

    @functools.wraps(original)
    def __init__(self, clip_len, *args, **kwargs):
        original(self, clip_len, *args, **kwargs)
        name = type(self).__name__
        # Checked after the original: it sets both, whether passed by
        # position or by keyword.
        check_frame_count(self.num_clips, f'{name} num_clips')
        check_frame_count(self.clip_len, f'{name} clip_len')

    SampleFrames.__init__ = __init__


def apply_upstream_checks() -> None:
    """Apply both patches of this module; safe to call repeatedly."""
    name_the_file_in_decode_errors()
    check_sample_frames_counts()
