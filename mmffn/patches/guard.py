"""The rules every mmffn patch of upstream code follows, as code.

* **Version guard.** A patch of an upstream internal is applied only to the
  versions it was written and tested against (:func:`require_version`): any
  other version raises, naming the package, the installed version, the tested
  range and the patch; it is never applied blindly nor skipped silently.
* **``__wrapped__``.** Every wrapper is made with :func:`functools.wraps`, so
  ``patched.__wrapped__`` is the upstream original.
* **Once.** A target that already has ``__wrapped__`` is patched
  (:func:`is_patched`); applying twice wraps once.

:func:`wrap_once` applies all three; every patch of :mod:`mmffn.patches` that
replaces a function goes through it. Upstream references, line numbers and
tests: ``docs/upstream_fixes.md``.
"""
import importlib
import inspect

__all__ = [
    'MMENGINE_TESTED', 'MMACTION2_TESTED', 'TORCH_WEIGHTS_ONLY_TESTED',
    'installed_version', 'require_version', 'is_patched', 'wrap_once'
]

# Upstream versions the patches were written and tested against, as
# (minimum, below): a version is in range if minimum <= version < below
# (release numbers only; below=None: no upper bound).
MMENGINE_TESTED = ('0.10.0', '0.11.0')  # tested: 0.10.7
MMACTION2_TESTED = ('1.2.0', '1.3.0')  # tested: 1.2.0
TORCH_WEIGHTS_ONLY_TESTED = ('2.6.0', None)  # public API; tested: 2.13.0

# Distribution name -> import name; the version is read from the imported
# module's ``__version__`` (what the running code is, whatever pip recorded).
_IMPORT_NAMES = {'mmengine': 'mmengine', 'mmaction2': 'mmaction'}


def _range_text(tested_range) -> str:
    minimum, below = tested_range
    return f'>={minimum}' + (f', <{below}' if below is not None else '')


def installed_version(package: str) -> str:
    """The version of ``package`` this process runs.

    Args:
        package (str): Distribution name, e.g. ``'mmaction2'`` (imported as
            ``mmaction``) or ``'torch'``.

    Returns:
        str: Its module's ``__version__``, e.g. ``'1.2.0'``.
    """
    module = importlib.import_module(_IMPORT_NAMES.get(package, package))
    return str(module.__version__)


def require_version(package: str, installed: str, tested_range,
                    patch_name: str) -> None:
    """Raise unless ``installed`` lies in ``tested_range``.

    The one version guard of every mmffn patch of an upstream internal: a
    patch is applied only to the versions it was written and tested against,
    never blindly and never skipped silently.

    Args:
        package (str): Distribution name, e.g. ``'mmengine'``.
        installed (str): Its installed version, e.g. ``mmengine.__version__``.
        tested_range (tuple): ``(minimum, below)``; ``below`` may be None.
        patch_name (str): Which patch asks, named in the error.

    Raises:
        RuntimeError: naming the package, the installed version, the tested
            range and the patch.
    """
    from mmengine.utils import digit_version
    minimum, below = tested_range
    release = digit_version(installed)[:4]  # 0.11.0rc1 counts as 0.11.0
    if (release >= digit_version(minimum)[:4]
            and (below is None or release < digit_version(below)[:4])):
        return
    wanted = _range_text(tested_range)
    raise RuntimeError(
        f'mmffn cannot apply its patch {patch_name}: it was written and '
        f'tested for {package}{wanted}, but {package} {installed} is '
        f'installed. Install {package}{wanted}, or check the patch against '
        f'{package} {installed} (docs/upstream_fixes.md) and widen its tested '
        'range in mmffn/patches/guard.py.')


def is_patched(obj) -> bool:
    """Whether ``obj`` is already an mmffn wrapper (has ``__wrapped__``).

    The one idempotency check of all patches; every wrapper is made with
    :func:`functools.wraps`, so ``obj.__wrapped__`` is the upstream original.
    """
    return getattr(obj, '__wrapped__', None) is not None


def _get(holder, name):
    return holder[name] if isinstance(holder, dict) else getattr(holder, name)


def _set(holder, name, value) -> None:
    if isinstance(holder, dict):
        holder[name] = value
    elif isinstance(holder, type) and isinstance(
            inspect.getattr_static(holder, name, None), staticmethod):
        # A class's staticmethod stays one (Runner.build_dataloader).
        setattr(holder, name, staticmethod(value))
    else:
        setattr(holder, name, value)


def wrap_once(holder,
              name: str,
              make_wrapper,
              *,
              package: str,
              tested,
              patch_name: str,
              also=()) -> bool:
    """Replace ``holder.name`` by ``make_wrapper(original)``, once, under a
    version guard.

    The version is checked first, also when the target is already patched,
    so an untested upstream never passes unnoticed. Callers that bound the
    original under the same name (``from m import f``) keep calling it
    unless listed in ``also``: each of those whose ``name`` still *is* the
    original gets the same wrapper.

    Args:
        holder (module | type | dict): Owner of the target: its attribute
            ``name``, or for a dict its entry ``name`` (e.g.
            ``CheckpointLoader._schemes``).
        name (str): The attribute or key to replace.
        make_wrapper (callable): ``original -> wrapper``; the wrapper must be
            made with :func:`functools.wraps` (``wrapper.__wrapped__`` is
            ``original``).
        package (str): Distribution whose version is checked, e.g.
            ``'mmengine'``.
        tested (tuple): Its tested range, e.g. :data:`MMENGINE_TESTED`.
        patch_name (str): The patch, named in the version error.
        also (Iterable): Further holders that may have bound the original
            under ``name``.

    Returns:
        bool: True if the target was wrapped now, False if it already was.

    Raises:
        RuntimeError: from :func:`require_version`; nothing is changed then.
    """
    require_version(package, installed_version(package), tested, patch_name)
    original = _get(holder, name)
    if is_patched(original):
        return False
    wrapper = make_wrapper(original)
    if getattr(wrapper, '__wrapped__', None) is not original:
        raise TypeError(
            f'mmffn patch {patch_name}: the wrapper of {name!r} has '
            f'__wrapped__ {getattr(wrapper, "__wrapped__", None)!r}; expected '
            'the upstream original (make it with functools.wraps).')
    _set(holder, name, wrapper)
    for other in also:
        if getattr(other, name, None) is original:
            setattr(other, name, wrapper)
    return True
