"""The rules of mmffn.patches.guard: tested version ranges, the version
guard, and :func:`wrap_once` (``__wrapped__``, once, nothing changed outside
the tested range)."""
import functools
import types

import pytest
import torch

from mmffn.patches import guard


def test_tested_ranges_hold_the_installed_stack():
    import mmaction
    import mmengine
    assert guard.MMENGINE_TESTED == ('0.10.0', '0.11.0')
    assert guard.MMACTION2_TESTED == ('1.2.0', '1.3.0')
    assert guard.TORCH_WEIGHTS_ONLY_TESTED == ('2.6.0', None)
    guard.require_version('mmengine', mmengine.__version__,
                          guard.MMENGINE_TESTED, 'x')
    guard.require_version('mmaction2', mmaction.__version__,
                          guard.MMACTION2_TESTED, 'x')
    guard.require_version('torch', str(torch.__version__),
                          guard.TORCH_WEIGHTS_ONLY_TESTED, 'x')


@pytest.mark.parametrize('installed, tested, inside', [
    ('0.10.0', ('0.10.0', '0.11.0'), True),
    ('0.10.7', ('0.10.0', '0.11.0'), True),
    ('0.10.99', ('0.10.0', '0.11.0'), True),
    ('0.9.9', ('0.10.0', '0.11.0'), False),
    ('0.11.0', ('0.10.0', '0.11.0'), False),
    ('0.11.0rc1', ('0.10.0', '0.11.0'), False),
    ('1.0.0', ('0.10.0', '0.11.0'), False),
    ('2.13.0+cpu', ('2.6.0', None), True),
    ('2.6.0', ('2.6.0', None), True),
    ('2.5.1', ('2.6.0', None), False),
])
def test_require_version(installed, tested, inside):
    if inside:
        guard.require_version('pkg', installed, tested, 'the_patch')
        return
    with pytest.raises(RuntimeError) as info:
        guard.require_version('pkg', installed, tested, 'the_patch')
    message = str(info.value)
    assert f'pkg {installed} is installed' in message
    assert 'pkg' + guard._range_text(tested) in message
    assert 'the_patch' in message
    assert 'mmffn/patches/guard.py' in message  # where the ranges live


@pytest.mark.parametrize('package, module', [('mmengine', 'mmengine'),
                                             ('mmaction2', 'mmaction'),
                                             ('torch', 'torch')])
def test_installed_version_reads_the_imported_module(set_version, package,
                                                     module):
    set_version(module, '9.8.7')
    assert guard.installed_version(package) == '9.8.7'


# --- wrap_once ---------------------------------------------------------------
def upstream(x):
    """An upstream function."""
    return x + 1


class MakeWrapper:
    """A ``make_wrapper`` that counts its calls; its wrappers double."""

    def __init__(self):
        self.calls = 0

    def __call__(self, original):
        self.calls += 1

        @functools.wraps(original)
        def wrapper(x):
            return 2 * original(x)

        return wrapper


GUARD = dict(
    package='mmengine', tested=guard.MMENGINE_TESTED, patch_name='the_patch')


def test_wrap_once_keeps_the_original_as_wrapped():
    holder = types.SimpleNamespace(f=upstream)
    assert guard.wrap_once(holder, 'f', MakeWrapper(), **GUARD)
    assert holder.f is not upstream
    assert holder.f.__wrapped__ is upstream
    assert holder.f.__doc__ == upstream.__doc__
    assert holder.f(1) == 4  # the wrapper runs the original
    assert guard.is_patched(holder.f) and not guard.is_patched(upstream)


def test_wrap_once_applied_twice_wraps_once():
    holder = types.SimpleNamespace(f=upstream)
    make = MakeWrapper()
    assert guard.wrap_once(holder, 'f', make, **GUARD)
    wrapper = holder.f
    assert not guard.wrap_once(holder, 'f', make, **GUARD)
    assert holder.f is wrapper
    assert holder.f.__wrapped__ is upstream
    assert make.calls == 1
    assert holder.f(1) == 4  # doubled once, not twice


def test_wrap_once_replaces_a_dict_entry():
    schemes = {'': upstream, 'http://': abs}
    assert guard.wrap_once(schemes, '', MakeWrapper(), **GUARD)
    assert schemes[''].__wrapped__ is upstream
    assert schemes['http://'] is abs
    assert not guard.wrap_once(schemes, '', MakeWrapper(), **GUARD)
    assert schemes[''].__wrapped__ is upstream


def test_wrap_once_rebinds_the_original_where_it_was_imported():
    owner = types.SimpleNamespace(f=upstream)
    importer = types.SimpleNamespace(f=upstream)  # `from owner import f`
    other = types.SimpleNamespace(f=abs)  # its own f: left alone
    without = types.SimpleNamespace()
    guard.wrap_once(
        owner, 'f', MakeWrapper(), also=[importer, other, without], **GUARD)
    assert importer.f is owner.f
    assert owner.f.__wrapped__ is upstream
    assert other.f is abs
    assert not hasattr(without, 'f')


@pytest.mark.parametrize('version', ['0.9.1', '0.11.0'])
def test_wrap_once_refuses_an_untested_version_and_changes_nothing(
        set_version, version):
    set_version('mmengine', version)
    holder = types.SimpleNamespace(f=upstream)
    importer = types.SimpleNamespace(f=upstream)
    make = MakeWrapper()
    with pytest.raises(RuntimeError) as info:
        guard.wrap_once(holder, 'f', make, also=[importer], **GUARD)
    message = str(info.value)
    assert f'mmengine {version} is installed' in message
    assert 'tested for mmengine>=0.10.0, <0.11.0' in message
    assert 'the_patch' in message
    assert holder.f is upstream and importer.f is upstream
    assert make.calls == 0


def test_wrap_once_refuses_an_untested_version_even_when_patched(set_version):
    holder = types.SimpleNamespace(f=upstream)
    guard.wrap_once(holder, 'f', MakeWrapper(), **GUARD)
    wrapper = holder.f
    set_version('mmengine', '0.11.0')
    with pytest.raises(RuntimeError, match='mmengine 0.11.0 is installed'):
        guard.wrap_once(holder, 'f', MakeWrapper(), **GUARD)
    assert holder.f is wrapper


def test_wrap_once_refuses_a_wrapper_without_the_original():
    holder = types.SimpleNamespace(f=upstream)
    with pytest.raises(TypeError, match='make it with functools.wraps'):
        guard.wrap_once(holder, 'f', lambda original: (lambda x: x), **GUARD)
    assert holder.f is upstream
