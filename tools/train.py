"""Train a recognizer with MMAction2's own ``tools/train.py``, mmffn loaded.

Same arguments as MMAction2's script (``--work-dir``, ``--resume``, ``--amp``,
``--cfg-options``, ``--launcher``, ...).
"""
from mmffn.utils import run_upstream_tool

if __name__ == '__main__':
    run_upstream_tool('train.py')
