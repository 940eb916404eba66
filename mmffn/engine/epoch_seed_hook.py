"""Re-seed every random generator at the start of each training epoch.

Why: MMEngine seeds ``random``, numpy and torch once, when the Runner is
built, and ``Runner.resume`` restores no generator state; its dataloader
workers are seeded the same way in every epoch. So a resumed run draws other
frame offsets (``MultiRateSampleFrames``) and dropout masks than the
uninterrupted run did, and non-persistent workers repeat the first epoch's
draws. Upstream references: ``docs/upstream_fixes.md``.

This hook makes the randomness of epoch ``e`` a function of ``(seed, e)``
only, like the sampler's: before each training epoch it seeds ``random``,
numpy and torch (all devices) with a seed derived from ``(seed, epoch)``
(and the rank when ``randomness.diff_rank_seed`` is set) and gives the
dataloader workers of the epoch seeds derived from it. Use it with::

    custom_hooks = [dict(type='EpochSeedHook')]
    randomness = dict(seed=0, deterministic=True)  # for bit-exact kernels

An iteration-based loop (``IterBasedTrainLoop``) is one long epoch, and
on ``--resume`` it draws (and drops) the batches already trained: there the
hook seeds before every batch instead, from ``(seed, iteration)``, so the
batch of iteration ``i`` and the forward pass that follows (dropout) draw
the same numbers whether the run was resumed or not.

Limits: persistent workers are seeded once when they start (a warning says
so); dataloader workers of an iteration-based loop start once, before the
hook runs, and replay their draws when a resume skips the trained batches
(MMEngine's ``worker_init_fn`` seeds them from the seed alone).
"""
import random
import warnings
from functools import partial

import numpy as np
import torch
from mmaction.registry import HOOKS
from mmengine.dist import get_dist_info
from mmengine.hooks import Hook

__all__ = ['epoch_seed', 'EpochSeedHook']


def epoch_seed(seed: int, epoch: int, rank: int = None) -> int:
    """A 32-bit seed for ``epoch`` derived from ``seed`` (and ``rank``).

    ``np.random.SeedSequence`` mixes the inputs, so nearby seeds and epochs
    do not give overlapping streams (``seed + epoch`` would: seed 0 epoch 1
    would equal seed 1 epoch 0).
    """
    entropy = [int(seed) % 2**32, int(epoch)]
    if rank is not None:
        entropy.append(int(rank))
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # every device


class _IterationSeeded:
    """A training loop's batch iterator that seeds every generator before
    drawing batch ``i`` (the ``i``-th call, counted from the loop's start)
    with ``seed_of(i)``."""

    def __init__(self, iterator, seed_of) -> None:
        self._iterator = iterator
        self._seed_of = seed_of
        self._index = 0

    def __iter__(self):
        return self

    def __next__(self):
        _seed_all(self._seed_of(self._index))
        self._index += 1
        return next(self._iterator)

    def __getattr__(self, name):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed ``random``, numpy, torch and the dataloader workers of each
    training epoch from ``(runner.seed, epoch)`` (each batch from
    ``(runner.seed, iteration)`` in an iteration-based loop), so that a
    resumed run repeats the uninterrupted one (see the module docstring)."""

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._worker_init_fn = None
        self._warned_persistent = False

    def before_train_epoch(self, runner) -> None:
        randomness = getattr(runner, '_randomness_cfg', None) or {}
        rank = get_dist_info()[0] if randomness.get('diff_rank_seed') \
            else None
        seed = epoch_seed(runner.seed, runner.epoch, rank)
        _seed_all(seed)
        loop = runner.train_loop
        self._seed_workers(loop.dataloader, seed)
        iterator = getattr(loop, 'dataloader_iterator', None)
        if iterator is not None and not isinstance(iterator, _IterationSeeded):
            # Iteration-based: seed each batch (including those a resume
            # skips) from (seed, iteration).
            loop.dataloader_iterator = _IterationSeeded(
                iterator, partial(epoch_seed, runner.seed, rank=rank))

    def _seed_workers(self, loader, seed: int) -> None:
        if getattr(loader, 'num_workers', 0) <= 0:
            return
        if getattr(loader, 'persistent_workers', False):
            if not self._warned_persistent:
                warnings.warn(
                    'EpochSeedHook: persistent dataloader workers are seeded '
                    'once when they start, so a resumed run cannot repeat '
                    'their random draws; use num_workers=0 or '
                    'persistent_workers=False for reproducible resumes.')
                self._warned_persistent = True
            return
        if self._worker_init_fn is None:
            self._worker_init_fn = loader.worker_init_fn
        base = self._worker_init_fn
        if isinstance(base, partial) and 'seed' in base.keywords:
            # MMEngine's worker_init_fn: seed + num_workers * rank + id.
            loader.worker_init_fn = partial(base.func, *base.args,
                                            **dict(base.keywords, seed=seed))
        # Otherwise torch seeds each worker from a number it draws from the
        # main process's torch generator, which was just seeded.
