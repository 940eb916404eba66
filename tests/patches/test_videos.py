"""The version guard, ``__wrapped__`` and idempotency of each patch of
mmffn.patches.videos.

What they do is tested in tests/e2e/test_reliability_errors.py (files named
in ``DecordInit`` errors), tests/datasets/transforms/test_damaged_video.py
(``DecordDecode``) and tests/e2e/test_zero_frames.py (``SampleFrames``).
"""
import pytest
from mmaction.datasets.transforms.loading import (DecordDecode, DecordInit,
                                                  SampleFrames)

from mmffn.patches import videos

PATCHES = {
    'name_the_file_in_video_errors': (DecordInit, 'transform'),
    'name_the_file_in_decode_errors': (DecordDecode, 'transform'),
    'check_sample_frames_counts': (SampleFrames, '__init__'),
}


@pytest.fixture
def unpatched(restore_upstream):
    """Upstream's functions back in place; mmffn's restored afterwards."""
    restored = restore_upstream(PATCHES.values())
    return {
        name: original
        for name, (_, _, original) in zip(PATCHES, restored)
    }


@pytest.mark.parametrize('name', list(PATCHES))
@pytest.mark.parametrize('version', ['1.1.0', '1.3.0'])
def test_untested_version_fails_loudly_and_patches_nothing(
        unpatched, set_version, name, version):
    set_version('mmaction', version)
    with pytest.raises(RuntimeError) as info:
        getattr(videos, name)()
    message = str(info.value)
    assert f'mmaction2 {version} is installed' in message
    assert 'tested for mmaction2>=1.2.0, <1.3.0' in message
    assert name in message
    for other, (holder, attr) in PATCHES.items():
        assert getattr(holder, attr) is unpatched[other], other


@pytest.mark.parametrize('name', list(PATCHES))
def test_tested_version_is_patched_once(unpatched, set_version, name):
    holder, attr = PATCHES[name]
    set_version('mmaction', '1.2.9')
    getattr(videos, name)()
    wrapper = getattr(holder, attr)
    assert wrapper is not unpatched[name]
    assert wrapper.__wrapped__ is unpatched[name]
    getattr(videos, name)()  # again: no double wrap
    assert getattr(holder, attr) is wrapper
