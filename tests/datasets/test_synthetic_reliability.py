"""The demo data generator (tools/generate_demo_data.py,
mmffn.datasets.synthetic) never leaves or reuses a half-written set and never
writes into a folder that is not its own (issue 26, item 8)."""
import hashlib
import json
import os
import os.path as osp
import sys

import pytest

from mmffn.datasets import synthetic
from mmffn.datasets.synthetic import generate_temporal_video_dataset
from tests.e2e_helpers import repo_tool

ARGS = dict(num_train=8, num_val=4, num_frames=6, size=32)


def _contents(root) -> dict:
    """SHA-256 of every file under ``root`` but the manifest, by path."""
    found = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = osp.join(folder, name)
            rel = osp.relpath(path, root)
            if rel != 'manifest.json':
                found[rel] = hashlib.sha256(open(path,
                                                 'rb').read()).hexdigest()
    return found


def _reference(tmp_path, seed=0) -> dict:
    root = str(tmp_path / f'reference_{seed}')
    generate_temporal_video_dataset(root, seed=seed, **ARGS)
    return _contents(root)


class Killed(BaseException):
    """Stands for a kill: nothing in the generator catches it."""


def _killed_after(monkeypatch, videos: int) -> None:
    """Make the generator die while writing video number ``videos + 1``."""
    write = synthetic._write_video
    calls = []

    def dying_write(path, frames, *args, **kwargs):
        if len(calls) == videos:
            with open(path, 'wb') as f:
                f.write(b'half a video')
            raise Killed
        calls.append(path)
        write(path, frames, *args, **kwargs)

    monkeypatch.setattr(synthetic, '_write_video', dying_write)


def test_a_regeneration_killed_part_way_is_redone(tmp_path, monkeypatch):
    """Seed 0, then seed 1 killed after 5 videos, then seed 0 again: the
    last run gives exactly seed 0's set, not 5 videos of seed 1."""
    expected = _reference(tmp_path)
    root = str(tmp_path / 'data')
    generate_temporal_video_dataset(root, seed=0, **ARGS)
    with monkeypatch.context() as patch:
        _killed_after(patch, 5)
        with pytest.raises(Killed):
            generate_temporal_video_dataset(root, seed=1, **ARGS)
    manifest = generate_temporal_video_dataset(root, seed=0, **ARGS)
    assert manifest['params']['seed'] == 0
    got = {
        k: v
        for k, v in _contents(root).items() if not osp.basename(k)[0] == '.'
    }
    assert got == expected


def test_a_first_run_killed_part_way_is_redone(tmp_path, monkeypatch):
    expected = _reference(tmp_path)
    root = str(tmp_path / 'data')
    with monkeypatch.context() as patch:
        _killed_after(patch, 3)
        with pytest.raises(Killed):
            generate_temporal_video_dataset(root, seed=0, **ARGS)
    generate_temporal_video_dataset(root, seed=0, **ARGS)
    got = {
        k: v
        for k, v in _contents(root).items() if not osp.basename(k)[0] == '.'
    }
    assert got == expected


@pytest.mark.parametrize('change', ['damaged', 'missing', 'annotation'])
def test_a_changed_file_makes_the_set_regenerate(tmp_path, change):
    expected = _reference(tmp_path)
    root = str(tmp_path / 'data')
    generate_temporal_video_dataset(root, seed=0, **ARGS)
    if change == 'damaged':  # same size, one byte differs
        path = osp.join(root, 'videos', 'val_00002.mp4')
        data = bytearray(open(path, 'rb').read())
        data[len(data) // 2] ^= 0xFF
        open(path, 'wb').write(bytes(data))
    elif change == 'missing':
        os.remove(osp.join(root, 'videos', 'train_00007.mp4'))
    else:
        with open(osp.join(root, 'train.txt'), 'a') as f:
            f.write('videos/extra.mp4 0\n')
    generate_temporal_video_dataset(root, seed=0, **ARGS)
    assert _contents(root) == expected


def test_the_manifest_records_every_file(tmp_path):
    root = str(tmp_path / 'data')
    manifest = generate_temporal_video_dataset(root, seed=0, **ARGS)
    assert manifest == json.load(open(osp.join(root, 'manifest.json')))
    files = manifest['files']
    assert set(files) == set(_contents(root))
    assert len([f for f in files if f.startswith('videos/')]) == 12
    for rel, record in files.items():
        path = osp.join(root, rel)
        assert record == dict(
            size=osp.getsize(path),
            sha256=hashlib.sha256(open(path, 'rb').read()).hexdigest())


def _generate_demo_data(monkeypatch, argv):
    tool = repo_tool('generate_demo_data')
    monkeypatch.setattr(sys, 'argv', ['generate_demo_data.py'] + argv)
    tool.main()


def test_a_foreign_folder_is_refused_unless_forced(tmp_path, monkeypatch):
    root = tmp_path / 'mine'
    root.mkdir()
    (root / 'train.txt').write_text('my own list\n')
    argv = [
        '--out',
        str(root), '--num-train', '4', '--num-val', '2', '--num-frames', '6'
    ]
    with pytest.raises(FileExistsError) as error:
        _generate_demo_data(monkeypatch, argv)
    assert str(root) in str(error.value) and '--force' in str(error.value)
    assert os.listdir(root) == ['train.txt']
    assert (root / 'train.txt').read_text() == 'my own list\n'
    _generate_demo_data(monkeypatch, argv + ['--force'])
    assert (root / 'manifest.json').is_file()
    # Its own output, even with other arguments, is simply regenerated.
    _generate_demo_data(monkeypatch, argv[:-1] + ['8'])
    assert json.load(open(root / 'manifest.json'))['params']['num_frames'] == 8
