"""The version guard, ``__wrapped__`` and idempotency of
mmffn.patches.recognizer2d.

What it does is tested in tests/models/recognizers/test_multi_rate_inputs.py.
"""
import pytest
from mmaction.models.recognizers import Recognizer2D

from mmffn.patches import recognizer2d

NAME = 'refuse_multi_rate_inputs_in_recognizer2d'


@pytest.fixture
def unpatched(restore_upstream):
    """Upstream's ``Recognizer2D.loss`` back in place; mmffn's restored
    afterwards."""
    [(_, _, original)] = restore_upstream([(Recognizer2D, 'loss')])
    return original


@pytest.mark.parametrize('version', ['1.1.0', '1.3.0'])
def test_untested_version_fails_loudly_and_patches_nothing(
        unpatched, set_version, version):
    set_version('mmaction', version)
    with pytest.raises(RuntimeError) as info:
        recognizer2d.refuse_multi_rate_inputs_in_recognizer2d()
    message = str(info.value)
    assert f'mmaction2 {version} is installed' in message
    assert 'tested for mmaction2>=1.2.0, <1.3.0' in message
    assert NAME in message
    assert Recognizer2D.loss is unpatched


def test_tested_version_is_patched_once(unpatched, set_version):
    set_version('mmaction', '1.2.9')
    recognizer2d.refuse_multi_rate_inputs_in_recognizer2d()
    wrapper = Recognizer2D.loss
    assert wrapper is not unpatched
    assert wrapper.__wrapped__ is unpatched
    recognizer2d.refuse_multi_rate_inputs_in_recognizer2d()  # no double wrap
    assert Recognizer2D.loss is wrapper
