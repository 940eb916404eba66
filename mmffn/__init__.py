"""mmffn: Frame Flexible Network (FFN, CVPR 2023) as an MMAction2 plugin.

Importing the package applies the stack fixes of :mod:`mmffn.compat` and
registers every mmffn module in MMAction2's registries, so a config only needs
``custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)``.
"""
from .compat import apply_compat

apply_compat()

from . import datasets, engine, models  # noqa: E402,F401  (registers)

__version__ = '0.1.0'
