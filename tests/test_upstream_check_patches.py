"""The version guard, ``__wrapped__`` and idempotency of the patches of
``mmffn.datasets.transforms.upstream_checks`` and
``mmffn.models.recognizers.stock_recognizer_guard``, as for
mmffn.reliability_patches.

What they do is tested in tests/datasets/transforms/test_damaged_video.py,
tests/e2e/test_zero_frames.py and
tests/models/recognizers/test_multi_rate_inputs.py.
"""
import pytest
from mmaction.datasets.transforms.loading import DecordDecode, SampleFrames
from mmaction.models.recognizers import Recognizer2D

import mmffn
from mmffn.datasets.transforms import upstream_checks
from mmffn.models.recognizers import stock_recognizer_guard

PATCHES = {
    'name_the_file_in_decode_errors':
    (upstream_checks, DecordDecode, 'transform'),
    'check_sample_frames_counts': (upstream_checks, SampleFrames, '__init__'),
    'refuse_multi_rate_inputs_in_recognizer2d':
    (stock_recognizer_guard, Recognizer2D, 'loss'),
}


@pytest.fixture
def unpatched(monkeypatch):
    """Upstream's functions back in place; mmffn's restored afterwards."""
    originals = {}
    for name, (_, holder, attr) in PATCHES.items():
        original = getattr(holder, attr).__wrapped__
        monkeypatch.setattr(holder, attr, original)
        originals[name] = original
    return originals


@pytest.mark.parametrize('name', list(PATCHES))
@pytest.mark.parametrize('version', ['1.1.0', '1.3.0'])
def test_untested_version_fails_loudly_and_patches_nothing(
        unpatched, monkeypatch, name, version):
    import mmaction
    module, holder, attr = PATCHES[name]
    monkeypatch.setattr(mmaction, '__version__', version)
    with pytest.raises(RuntimeError) as info:
        getattr(module, name)()
    message = str(info.value)
    assert f'mmaction2 {version} is installed' in message
    assert 'tested for mmaction2>=1.2.0, <1.3.0' in message
    assert name in message
    assert getattr(holder, attr) is unpatched[name]


@pytest.mark.parametrize('name', list(PATCHES))
def test_tested_version_is_patched_once(unpatched, monkeypatch, name):
    import mmaction
    module, holder, attr = PATCHES[name]
    monkeypatch.setattr(mmaction, '__version__', '1.2.9')
    getattr(module, name)()
    wrapper = getattr(holder, attr)
    assert wrapper is not unpatched[name]
    assert wrapper.__wrapped__ is unpatched[name]
    getattr(module, name)()  # again: no double wrap
    assert getattr(holder, attr) is wrapper


def test_import_mmffn_applies_every_patch():
    assert mmffn  # imported above
    for name, (_, holder, attr) in PATCHES.items():
        assert getattr(getattr(holder, attr), '__wrapped__', None), name
