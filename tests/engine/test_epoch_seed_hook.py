"""EpochSeedHook: each epoch's random draws depend on (seed, epoch) only."""
import torch


class _Draws(torch.utils.data.Dataset):
    """Like MultiRateSampleFrames: draws from numpy's global generator."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        import numpy as np
        return int(np.random.randint(1 << 30))


def _fake_runner(loader, seed=0, epoch=0):
    from types import SimpleNamespace
    return SimpleNamespace(
        seed=seed,
        epoch=epoch,
        _randomness_cfg={},
        train_loop=SimpleNamespace(dataloader=loader))


def _epoch_draws(loader, hook, seed, epochs):
    draws = []
    for epoch in epochs:
        if hook is not None:
            hook.before_train_epoch(_fake_runner(loader, seed, epoch))
        draws.append([int(x) for batch in loader for x in batch])
    return draws


def test_epoch_seed_hook_makes_each_epoch_depend_on_seed_and_epoch_only():
    import numpy as np

    from mmffn.engine import EpochSeedHook
    loader = torch.utils.data.DataLoader(_Draws(), batch_size=2)
    hook = EpochSeedHook()
    first = _epoch_draws(loader, hook, seed=0, epochs=[0, 1, 2])
    np.random.seed(123)  # whatever ran before (other epochs, a resume)
    torch.manual_seed(123)
    resumed = _epoch_draws(loader, hook, seed=0, epochs=[1, 2])
    assert resumed == first[1:]
    assert first[0] != first[1]
    assert _epoch_draws(loader, hook, seed=1, epochs=[1]) != first[1:2]


def test_epoch_seed_hook_gives_workers_new_seeds_each_epoch():
    """MMEngine's worker_init_fn seeds workers the same way every epoch."""
    from functools import partial

    from mmengine.dataset import worker_init_fn

    from mmffn.engine import EpochSeedHook
    init = partial(worker_init_fn, num_workers=1, rank=0, seed=0)
    loader = torch.utils.data.DataLoader(
        _Draws(), batch_size=2, num_workers=1, worker_init_fn=init)
    upstream = _epoch_draws(loader, None, seed=0, epochs=[0, 1])
    assert upstream[0] == upstream[1]  # the same "random" draws each epoch
    hook = EpochSeedHook()
    seeded = _epoch_draws(loader, hook, seed=0, epochs=[0, 1])
    assert seeded[0] != seeded[1]
    assert _epoch_draws(loader, EpochSeedHook(), seed=0, epochs=[1]) == \
        seeded[1:]
