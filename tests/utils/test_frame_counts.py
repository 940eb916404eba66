"""check_frame_count(s): the one validator of frame counts."""
import re

import numpy as np
import pytest

from mmffn.utils import check_frame_count, check_frame_counts


def test_valid_counts_come_back_as_ints():
    assert check_frame_counts([4, 8, 16]) == (4, 8, 16)
    assert check_frame_count(8) == 8
    assert check_frame_count(np.int64(6)) == 6


@pytest.mark.parametrize('counts', [(8, 4), (4, 4, 8), (0, 4), (-4, 8),
                                    (4.0, 8), ('4', ), (), (True, 2), 8, '48'])
def test_bad_frame_counts_are_named(counts):
    with pytest.raises(ValueError, match='frame_counts') as info:
        check_frame_counts(counts)
    assert repr(counts) in str(info.value) or any(
        repr(c) in str(info.value) for c in counts)


@pytest.mark.parametrize('value', [0, -4, 2.5, True, '8', None])
def test_bad_frame_count_is_named(value):
    with pytest.raises(
            ValueError,
            match=re.escape(f'frames must be a positive int, got {value!r}')):
        check_frame_count(value, 'frames')
