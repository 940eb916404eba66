"""mmffn: Frame Flexible Network (FFN, CVPR 2023) as an MMAction2 plugin.

Importing the package applies every patch of upstream code
(:func:`mmffn.patches.apply_all`: the fixes the stack needs to run, then the
reliability checks; listed in ``docs/upstream_fixes.md``), and registers
every mmffn module in MMAction2's registries, so a config only needs
``custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)``.
"""
from .requirements import check_mmcv

check_mmcv()  # first: a clear error if no mmcv is installed (docs/install.md)
from .patches import apply_all  # noqa: E402

apply_all()  # before anything imports mmaction.models (the drn stub)

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__version__ = '0.1.0'
