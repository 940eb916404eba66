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
