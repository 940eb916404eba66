"""Issue 26, item 5: a resumed iteration-based run (label-free conversion's
``IterBasedTrainLoop``) equals the uninterrupted one, dropout and the
data's random draws included, under ``EpochSeedHook``."""
import numpy as np
import torch
import torch.nn as nn
from mmengine.model import BaseModel


class _RandomClips(torch.utils.data.Dataset):
    """Draws from numpy's global generator, as MultiRateSampleFrames
    does in the main process (num_workers=0)."""

    def __len__(self):
        return 6

    def __getitem__(self, index):
        offset = float(np.random.rand())
        return dict(inputs=torch.full((4, ), float(index)) + offset)


class _DropoutNet(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.drop = nn.Dropout(p=0.5)
        self.fc2 = nn.Linear(16, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        out = self.fc2(self.drop(torch.relu(self.fc1(inputs))))
        return dict(loss=(out**2).mean())


def _train(work_dir, max_iters, resume=False, seed=0):
    from mmengine.runner import Runner

    from mmffn.engine import EpochSeedHook
    torch.manual_seed(seed)  # the model is built here, before the Runner
    runner = Runner(
        model=_DropoutNet(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=_RandomClips(),
            sampler=dict(type='InfiniteSampler', shuffle=True),
            batch_size=2,
            num_workers=0,
            collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=4),
            logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[EpochSeedHook()],
        randomness=dict(seed=seed),
        resume=resume,
        default_scope='mmengine')
    runner.train()
    return {k: v.clone() for k, v in runner.model.state_dict().items()}


def test_interrupted_iteration_run_resumes_to_the_uninterrupted_weights(
        tmp_path):
    reference = _train(tmp_path / 'reference', max_iters=8)
    _train(tmp_path / 'crashed', max_iters=4)  # stopped after iteration 4
    assert (tmp_path / 'crashed' / 'iter_4.pth').is_file()
    resumed = _train(tmp_path / 'crashed', max_iters=8, resume=True)
    assert resumed.keys() == reference.keys()
    differ = [
        k for k in reference if not torch.equal(resumed[k], reference[k])
    ]
    assert not differ, differ
    # The draws matter: without dropout's and the data's draws replayed
    # (issue 26: EpochSeedHook seeded the one epoch only) weights differ.
    torch.manual_seed(1)
    np.random.seed(1)
    assert not torch.equal(
        _train(tmp_path / 'other', max_iters=8, seed=1)['fc1.weight'],
        reference['fc1.weight'])
