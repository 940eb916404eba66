"""How often a finished 2-rank gloo run aborts at exit, by ending.

Run by hand, once per ending, and count non-zero exits::

    for i in $(seq 24); do SLOW=1 python -m torch.distributed.run \\
        --nproc_per_node 2 benchmarks/gloo_teardown_abort.py none \\
        >/dev/null 2>&1 || echo abort; done | wc -l

``none``: the group is left alive (what MMAction2's tools do); ``finish``:
mmffn's ``finish_process_group`` (barrier, then destroy). Rank ``SLOW`` ends
0.5 s later than the other, as rank 0 does after a test (metrics, dumps).
"""
import os
import sys
import time

import torch
import torch.distributed as dist

from mmffn.utils.upstream_tools import finish_process_group

dist.init_process_group('gloo')
# A DDP wrapper holds the group, as MMEngine's runner does.
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(10, 10))
model(torch.ones(2, 10)).sum().backward()
if dist.get_rank() == int(os.environ.get('SLOW', 0)):
    time.sleep(0.5)
if sys.argv[1] == 'finish':
    finish_process_group()
