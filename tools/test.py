"""Test a checkpoint with MMAction2's own ``tools/test.py``, mmffn loaded.

Same arguments as MMAction2's script (``--work-dir``, ``--dump``,
``--cfg-options``, ``--launcher``, ``--show-dir``, ...).
"""
from mmffn.utils import run_upstream_tool

if __name__ == '__main__':
    run_upstream_tool('test.py')
