"""Check, before anything else is imported, that an ``mmcv`` 2.x is present.

``setup.py`` does not require mmcv: a GPU machine keeps its full ``mmcv``
(compiled ops, needed by many MMAction2 models and MMDeploy), a CPU machine
installs ``mmffn[lite]`` (``mmcv-lite==2.1.0``). Both distributions provide
the same ``mmcv`` import package, so requiring either would put a second one
beside the other (see ``docs/install.md``). Without any mmcv, ``import mmffn``
fails here with the two ways to fix it instead of deep inside mmaction.

The version is not checked here: ``import mmaction`` already fails with
"MMCV==x is used but incompatible. Please install mmcv>=2.0.0rc4, <2.2.0."

This module imports nothing of the stack (it lives outside ``mmffn.utils``,
whose ``__init__`` imports mmaction, which imports mmcv).
"""
import importlib.metadata
import importlib.util
import warnings

__all__ = ['check_mmcv']

MISSING_MMCV_MESSAGE = (
    'mmffn needs mmcv 2.x (>=2.0.0rc4, <2.2.0), but no `mmcv` package is '
    'installed; mmffn does not install one itself, so that an existing full '
    'mmcv is kept. Install one of the two:\n'
    '  CPU / no compiled ops:   pip install "mmffn[lite]"  '
    '(or: pip install mmcv-lite==2.1.0)\n'
    '  GPU / full mmcv:         pip install -U openmim && '
    'mim install mmcv==2.1.0  (or a wheel from OpenMMLab\'s index: '
    'pip install mmcv==2.1.0 -f '
    'https://download.openmmlab.com/mmcv/dist/<cuXXX>/<torchX.Y>/index.html)\n'
    'Never both: they share the `mmcv` package. See docs/install.md.')

BOTH_INSTALLED_MESSAGE = (
    'Both the full mmcv ({full}) and mmcv-lite ({lite}) distributions are '
    'installed. They own the same `mmcv` package: one overwrote the other\'s '
    'files, and uninstalling either breaks both. Keep one: on GPU run `pip '
    'uninstall -y mmcv-lite mmcv && mim install mmcv==2.1.0`, on CPU `pip '
    'uninstall -y mmcv mmcv-lite && pip install mmcv-lite==2.1.0`. '
    'See docs/install.md.')


def _installed_version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def check_mmcv():
    """Raise a clear ImportError if no ``mmcv`` can be imported.

    Only looks the package up (nothing of mmcv is imported here). Warns if
    both the ``mmcv`` and ``mmcv-lite`` distributions are installed.

    Raises:
        ImportError: if no ``mmcv`` package is installed.
    """
    try:
        spec = importlib.util.find_spec('mmcv')
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ImportError(MISSING_MMCV_MESSAGE, name='mmcv')
    full = _installed_version('mmcv')
    lite = _installed_version('mmcv-lite')
    if full is not None and lite is not None:
        warnings.warn(
            BOTH_INSTALLED_MESSAGE.format(full=full, lite=lite),
            RuntimeWarning,
            stacklevel=2)
