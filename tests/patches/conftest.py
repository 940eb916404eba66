"""Fixtures of the tests of mmffn.patches: upstream versions set by hand, and
upstream's functions put back in place of mmffn's wrappers."""
import importlib

import pytest


def get_target(holder, key):
    """``holder[key]`` for a dict, else ``getattr(holder, key)``."""
    return holder[key] if isinstance(holder, dict) else getattr(holder, key)


@pytest.fixture
def set_version(monkeypatch):
    """``set_version(module, version)``: fake the ``__version__`` of an
    imported upstream module (e.g. ``'mmaction'``) for one test."""

    def set_version(module, version):
        monkeypatch.setattr(
            importlib.import_module(module), '__version__', version)

    return set_version


@pytest.fixture
def restore_upstream(monkeypatch):
    """``restore_upstream(targets)``: put upstream's function back at each
    ``(holder, key)`` (a dict holder is indexed) for one test; returns
    ``[(holder, key, original)]``. mmffn's wrappers return afterwards."""

    def restore_upstream(targets):
        originals = []
        for holder, key in targets:
            original = get_target(holder, key).__wrapped__
            if isinstance(holder, dict):
                monkeypatch.setitem(holder, key, original)
            else:
                monkeypatch.setattr(holder, key, original)
            originals.append((holder, key, original))
        return originals

    return restore_upstream


@pytest.fixture
def mmaction2_guard(set_version):
    """``mmaction2_guard(patch, holder, key, unpatched)``: the version-guard
    checks of a patch of one MMAction2 function (upstream's ``unpatched``
    in place): 1.1.0 and 1.3.0 are refused, naming the versions and the
    patch, with nothing patched; 1.2.9 is patched once, a second call
    keeping the wrapper."""

    def check(patch, holder, key, unpatched):
        for version in ('1.1.0', '1.3.0'):
            set_version('mmaction', version)
            with pytest.raises(RuntimeError) as info:
                patch()
            message = str(info.value)
            assert f'mmaction2 {version} is installed' in message
            assert 'tested for mmaction2>=1.2.0, <1.3.0' in message
            assert patch.__name__ in message
            assert get_target(holder, key) is unpatched
        set_version('mmaction', '1.2.9')
        patch()
        wrapper = get_target(holder, key)
        assert wrapper is not unpatched
        assert wrapper.__wrapped__ is unpatched
        patch()  # again: no double wrap
        assert get_target(holder, key) is wrapper

    return check
