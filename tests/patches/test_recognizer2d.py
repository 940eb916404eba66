"""The version guard, ``__wrapped__`` and idempotency of
mmffn.patches.recognizer2d.

What it does is tested in tests/models/recognizers/test_multi_rate_inputs.py.
"""
import pytest
from mmaction.models.recognizers import Recognizer2D

from mmffn.patches import recognizer2d


@pytest.fixture
def unpatched(restore_upstream):
    """Upstream's ``Recognizer2D.loss`` back in place; mmffn's restored
    afterwards."""
    [(_, _, original)] = restore_upstream([(Recognizer2D, 'loss')])
    return original


def test_version_guard(unpatched, mmaction2_guard):
    mmaction2_guard(recognizer2d.refuse_multi_rate_inputs_in_recognizer2d,
                    Recognizer2D, 'loss', unpatched)
