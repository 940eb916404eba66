"""Crafted and wrong checkpoints against every loading entry point (issue 16,
items 1 and 3): ``load_from`` and ``--resume`` through ``tools/train.py``,
``tools/test.py``, ``tools/deploy.py``, a backbone's ``pretrained``,
``mmaction.apis.init_recognizer`` and ``tools/frame_sweep.py``.

* Code in a checkpoint (``__reduce__`` -> ``os.system``) never runs.
* A crafted ``HistoryBuffer`` (issue 16: ``statistics_methods`` with
  ``'__class__'``, ``'__getattribute__'`` and ``'mean'`` swapped for ``max``)
  is refused, and HistoryBuffer's class-level statistics and attributes
  are unchanged afterwards, in the process that loaded.
* A plain tensor as ``load_from`` or to ``tools/test.py``, and anything but an
  MMEngine checkpoint to ``--resume``, fail naming the file and what was
  expected.

All cases run in one subprocess (``checkpoint_entry_points.py``), each
failing at the load, before any data is read: the annotation files list a
video that does not exist.
"""
import json
import os.path as osp
import pickle
import sys

import pytest
import torch
from checkpoint_payloads import (SystemPayload,
                                 crafted_history_buffer_checkpoint,
                                 mmengine_checkpoint)
from e2e_helpers import FFN_DEMO, REPO, run_tool, tiny_cfg_options

pytestmark = pytest.mark.slow

ENTRY_POINTS = ('train_load_from', 'train_resume', 'test', 'deploy',
                'pretrained', 'init_recognizer', 'frame_sweep')
# Issue 16, item 3: (file, entry point, what the error must say).
WRONG_FILES = [
    ('tensor', 'train_load_from', 'expected a state dict'),
    ('tensor', 'test', 'expected a state dict'),
    ('tensor', 'frame_sweep', 'expected a state dict'),
    ('tensor', 'train_resume', 'expected a checkpoint written by MMEngine'),
    ('state_dict', 'train_resume',
     'expected a checkpoint written by MMEngine'),
]


@pytest.fixture(scope='module')
def loaded(tmp_path_factory):
    """{case id: what loading did} and {file kind: path}."""
    root = tmp_path_factory.mktemp('checkpoint_entry_points')
    for ann in ('train.txt', 'val.txt'):  # the load fails before any read
        (root / ann).write_text('missing.mp4 0\n')
    files = {
        'system': str(root / 'system.pth'),
        'crafted': str(root / 'crafted.pth'),
        'tensor': str(root / 'tensor.pth'),
        'state_dict': str(root / 'state_dict.pth'),
    }
    marker = str(root / 'pwned')
    torch.save(mmengine_checkpoint(SystemPayload(marker)), files['system'])
    torch.save(crafted_history_buffer_checkpoint(), files['crafted'])
    torch.save(torch.ones(3), files['tensor'])
    torch.save({'backbone.conv1.conv.weight': torch.zeros(1)},
               files['state_dict'])
    cases = [
        dict(
            id=f'{kind}-{entry}',
            entry=entry,
            checkpoint=files[kind],
            marker=marker) for kind in ('system', 'crafted')
        for entry in ENTRY_POINTS
    ] + [
        dict(id=f'{kind}-{entry}', entry=entry, checkpoint=files[kind])
        for kind, entry, _ in WRONG_FILES
    ]
    spec = dict(
        config=FFN_DEMO,
        cfg_options=tiny_cfg_options(str(root), max_epochs=1),
        work_dir=str(root / 'work'),
        cases=cases)
    spec_path, results_path = root / 'spec.json', root / 'results.json'
    spec_path.write_text(json.dumps(spec))
    run_tool([
        sys.executable,
        osp.join(REPO, 'tests', 'e2e', 'checkpoint_entry_points.py'),
        str(spec_path),
        str(results_path)
    ])
    return json.loads(results_path.read_text()), files


@pytest.mark.parametrize('entry', ENTRY_POINTS)
@pytest.mark.parametrize('kind, refusal', [
    ('system', 'unsupported GLOBAL'),
    ('crafted', "statistics method '__class__'"),
])
def test_a_crafted_checkpoint_is_refused_everywhere(loaded, kind, refusal,
                                                    entry):
    results, files = loaded
    result = results[f'{kind}-{entry}']
    assert result['error_type'] == pickle.UnpicklingError.__name__, \
        result['traceback']
    assert files[kind] in result['message']
    assert refusal in result['message']
    assert not result['marker_exists']  # no code ran
    assert result['state_unchanged']  # HistoryBuffer's class state


@pytest.mark.parametrize('kind, entry, expected', WRONG_FILES)
def test_a_wrong_file_is_named_with_what_was_expected(loaded, kind, entry,
                                                      expected):
    results, files = loaded
    result = results[f'{kind}-{entry}']
    assert result['error_type'] == 'RuntimeError', result['traceback']
    assert repr(files[kind]) in result['message']
    assert expected in result['message']
    if kind == 'state_dict':
        assert 'bare state dict' in result['message']
    else:
        assert 'a Tensor of shape (3,)' in result['message']
