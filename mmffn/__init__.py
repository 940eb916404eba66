"""mmffn: Frame Flexible Network (FFN, CVPR 2023) as an MMAction2 plugin.

Importing the package applies the stack fixes of :mod:`mmffn.compat` and the
reliability patches of :mod:`mmffn.reliability_patches` (both listed in
``docs/upstream_fixes.md``), and registers every mmffn module in MMAction2's
registries, so a config only needs
``custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)``.
"""
from .requirements import check_mmcv

check_mmcv()  # first: a clear error if no mmcv is installed (docs/install.md)
from .compat import apply_compat  # noqa: E402
from .reliability_patches import apply_reliability_patches  # noqa: E402

apply_compat()
apply_reliability_patches()

from . import datasets, engine, models  # noqa: E402,F401  (registers)

__version__ = '0.1.0'
