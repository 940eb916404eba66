"""mmffn's tools run MMAction2's scripts and end the process group cleanly."""
import sys

import pytest
import torch.distributed as dist

from mmffn.utils import upstream_tools

TOOL = '''
import sys
import torch.distributed as dist
dist.init_process_group('gloo', init_method='file://' + sys.argv[1],
                        rank=0, world_size=1)
if sys.argv[2] == 'fail':
    raise RuntimeError('tool failed')
'''


@pytest.fixture
def fake_tool(tmp_path, monkeypatch):
    script = tmp_path / 'tool.py'
    script.write_text(TOOL)
    monkeypatch.setattr(upstream_tools, 'upstream_tool_path',
                        lambda relative_path: str(script))
    barriers = []
    original_barrier = dist.barrier

    def barrier(*args, **kwargs):
        barriers.append(dist.is_initialized())
        return original_barrier(*args, **kwargs)

    monkeypatch.setattr(dist, 'barrier', barrier)
    yield str(tmp_path / 'store'), barriers
    if dist.is_initialized():
        dist.destroy_process_group()


def test_finished_tool_waits_for_all_ranks_then_destroys_the_group(fake_tool):
    store, barriers = fake_tool
    argv = list(sys.argv)
    upstream_tools.run_upstream_tool('train.py', [store, 'ok'])
    assert barriers == [True]
    assert not dist.is_initialized()
    assert sys.argv == argv


def test_failed_tool_raises_without_waiting_for_other_ranks(fake_tool):
    store, barriers = fake_tool
    argv = list(sys.argv)
    with pytest.raises(RuntimeError, match='tool failed'):
        upstream_tools.run_upstream_tool('train.py', [store, 'fail'])
    assert barriers == []
    assert dist.is_initialized()  # left to the process exit / torchrun
    assert sys.argv == argv


def test_finish_without_a_group_does_nothing(fake_tool):
    _, barriers = fake_tool
    assert not dist.is_initialized()
    upstream_tools.finish_process_group()
    assert barriers == []
