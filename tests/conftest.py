"""Shared fixtures: a tiny generated video set for end-to-end tests and the
builders of shared_builders.py.

It imports mmffn before any test module: mmffn's stack fixes must precede the
first import of mmaction.models, and isort puts ``import mmffn`` after the
mmaction imports in test files."""
import os

import pytest
import torch
from e2e_helpers import TINY_CLASSES
from shared_builders import randomise_norms as _randomise_norms

import mmffn  # noqa: F401

if os.environ.get('PYTEST_XDIST_WORKER'):
    # tools/run_tests.sh runs one pytest worker per core: one torch thread
    # each (more would oversubscribe the cores, as in one_thread's note).
    torch.set_num_threads(1)


@pytest.fixture(scope='session')
def tiny_video_root(tmp_path_factory):
    """16 train / 8 val generated videos of TINY_CLASSES, 20 frames, 32 px."""
    from mmffn.datasets.synthetic import generate_temporal_video_dataset
    root = str(tmp_path_factory.mktemp('tiny_videos'))
    generate_temporal_video_dataset(
        root,
        num_train=16,
        num_val=8,
        num_frames=20,
        size=32,
        seed=0,
        classes=TINY_CLASSES)
    return root


@pytest.fixture
def randomise_norms():
    """``randomise_norms(model, seed=0)``: non-trivial norms everywhere."""
    return _randomise_norms


@pytest.fixture(scope='module')
def one_thread():
    """One torch thread for a module of tiny-input model tests: on a busy
    2-core machine two threads made them many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module', autouse=True)
def mmaction_default_scope():
    """MMAction2's registry scope for each test module, whatever ran before
    it in this process: the modules that build models by type name call
    ``register_all_modules()`` at import, which sets the scope only if no
    other was current then; under pytest-xdist a worker may have run a
    runner of another scope in between."""
    from mmengine.registry import DefaultScope
    current = DefaultScope.get_current_instance()
    if current is None or current.scope_name != 'mmaction':
        DefaultScope.get_instance(
            f'mmffn-tests-{id(object())}', scope_name='mmaction')
    yield
