"""Validation of frame counts, the one place every module checks them."""
import operator
from typing import Iterable, Tuple

__all__ = ['check_frame_counts', 'check_frame_count']


def check_frame_counts(frame_counts: Iterable[int],
                       name: str = 'frame_counts') -> Tuple[int, ...]:
    """Validate a list of frame counts and return it as a tuple.

    Args:
        frame_counts (Iterable[int]): Distinct positive ints, sorted
            ascending, e.g. ``(4, 8, 16)``.
        name (str): Argument name used in error messages.

    Returns:
        tuple[int]: The counts.
    """
    if isinstance(frame_counts,
                  (str, bytes)) or not hasattr(frame_counts, '__iter__'):
        raise ValueError(f'{name} must be a sequence of positive ints such as '
                         f'(4, 8, 16), got {frame_counts!r}')
    counts = tuple(frame_counts)
    if not counts:
        raise ValueError(f'{name} must not be empty, got {frame_counts!r}')
    for count in counts:
        # bool is an int subclass but never a frame count.
        if isinstance(count, bool) or not isinstance(count, int):
            raise ValueError(f'{name} must contain ints, got {count!r} in '
                             f'{frame_counts!r}')
        if count <= 0:
            raise ValueError(f'{name} must contain positive ints, got '
                             f'{count!r} in {frame_counts!r}')
    if len(set(counts)) != len(counts):
        raise ValueError(f'{name} must not contain duplicates, got '
                         f'{frame_counts!r}')
    if list(counts) != sorted(counts):
        raise ValueError(
            f'{name} must be sorted ascending, got '
            f'{frame_counts!r} (expected {tuple(sorted(counts))})')
    return counts


def check_frame_count(value, name: str = 'frame count') -> int:
    """``value`` as a positive int, or a ValueError naming it."""
    try:
        if isinstance(value, bool):  # an int subclass, never a count
            raise TypeError
        count = operator.index(value)
    except TypeError:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    if count <= 0:
        raise ValueError(f'{name} must be a positive int, got {value!r}')
    return count
