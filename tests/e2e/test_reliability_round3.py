"""Issue 26, items 10 and 12: clear errors, before any work, for sampler
counts that sample nothing, a decode of no frame, frame sweep arguments,
an unlabeled test set, a demo seed out of range and the deployment of a
stock config."""
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from e2e_helpers import REPO

import mmffn  # noqa: F401  (the sampler checks, the decode errors)


@pytest.mark.parametrize('kwargs, named', [
    (dict(clip_len=0), 'UniformSample clip_len must be a positive int, '
     'got 0'),
    (dict(clip_len=-2), 'UniformSample clip_len must be a positive int, '
     'got -2'),
    (dict(clip_len=4, num_clips=0, test_mode=True),
     'UniformSample num_clips must be a positive int, got 0'),
])
def test_uniform_sample_refuses_counts_that_sample_nothing(kwargs, named):
    # X3D's and the 3D demos' test sampler: clip_len=0 was a
    # ZeroDivisionError, -2 or num_clips=0 an empty clip that the decoder
    # reported as a damaged video.
    from mmaction.registry import TRANSFORMS
    with pytest.raises(ValueError, match=named):
        TRANSFORMS.build(dict(type='UniformSample', **kwargs))


def test_decoding_no_frame_blames_the_sampler_not_the_video(tiny_video_root):
    from mmaction.datasets.transforms import DecordDecode, DecordInit
    with open(osp.join(tiny_video_root, 'train.txt')) as f:
        video = osp.join(tiny_video_root, f.readline().split()[0])
    assert osp.isfile(video)  # a healthy video
    results = DecordInit()(dict(filename=video, start_index=0))
    results.update(
        frame_inds=np.array([], dtype=int), clip_len=-2, num_clips=1)
    with pytest.raises(ValueError) as error:
        DecordDecode()(results)
    message = str(error.value)
    assert 'the sampler gave 0 frame indices (clip_len=-2' in message
    assert 'damaged' not in message


def test_multi_rate_3d_sampler_refuses_target_fps_0():
    from mmffn.datasets.transforms import MultiRateSampleFrames3D
    with pytest.raises(
            ValueError,
            match='target_fps must be a positive number.*'
            'got target_fps=0'):
        MultiRateSampleFrames3D(
            clip_len_list=(2, 4),
            mode='interval',
            frame_interval=2,
            target_fps=0)


def sweep(tmp_path, *args):
    """tools/frame_sweep.py on two demo configs and checkpoints that do
    not exist: every error here must come before the first evaluation."""
    configs = [
        osp.join(REPO, 'configs', 'demo', name)
        for name in ('ffn_tsm_r18_demo.py', 'tsm_r18_16f_demo.py')
    ]
    out = tmp_path / 'sweep'
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'frame_sweep.py'), configs[0],
        str(tmp_path / 'a.pth'), configs[1],
        str(tmp_path / 'b.pth'), '--frames', '4', '--out-dir',
        str(out), *args
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert not (out / 'runs').exists()  # no evaluation started
    return proc


def test_frame_sweep_refuses_repeated_labels_before_any_run(tmp_path):
    proc = sweep(tmp_path, '--labels', 'A', 'A')
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "['A'] names several" in proc.stderr
    assert 'merged into one column' in proc.stderr


def test_frame_sweep_checks_trained_frames_before_any_run(tmp_path):
    proc = sweep(tmp_path, '--trained-frames', '16', '4,x')
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "got '4,x' ('x' is not a number)" in proc.stderr


def test_sweep_arguments():
    from mmffn.apis.frame_sweep import sweep_arguments
    config = osp.join(REPO, 'configs', 'demo', 'tsm_r18_16f_demo.py')
    pairs = [(config, 'a.pth'), (config, 'b.pth')]
    with pytest.raises(
            ValueError,
            match=r"\['tsm_r18_16f_demo'\] names "
            'several.*default to the config names'):
        sweep_arguments(pairs)  # one config twice, default labels
    labels, trained = sweep_arguments(pairs, ['a', 'b'], ['16', '4,8,16'])
    assert labels == ['a', 'b']
    assert trained == {'a': [16], 'b': [4, 8, 16]}
    with pytest.raises(
            ValueError,
            match='trained frame count of .b. must '
            'be a positive int, got 0'):
        sweep_arguments(pairs, ['a', 'b'], ['16', '0,8'])
    with pytest.raises(ValueError, match='labels needs one value per model'):
        sweep_arguments(pairs, ['a'])
    with pytest.raises(ValueError, match='Config files not found'):
        sweep_arguments([('nowhere.py', 'a.pth')])


# --- item 12 -----------------------------------------------------------
def test_an_unlabeled_list_as_test_set_is_refused(tmp_path):
    from mmaction.registry import DATASETS
    videos = tmp_path / 'videos.txt'
    videos.write_text('a.mp4\n')
    with pytest.raises(
            ValueError,
            match=r'videos\.txt\) has no labels, so it cannot be '
            r'a validation or test set.*VideoDataset'):
        DATASETS.build(
            dict(
                type='UnlabeledVideoDataset',
                ann_file=str(videos),
                pipeline=[],
                test_mode=True))


def test_demo_refuses_a_negative_seed_before_generating(tmp_path):
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'demo.py'), '--seed', '-1', '--data-root',
        str(tmp_path / 'data'), '--work-dir',
        str(tmp_path / 'work')
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert '--seed must be an int in [0, 2**32 - 1], got -1' in proc.stderr
    assert not (tmp_path / 'data').exists()


def test_deploying_a_stock_config_names_the_ffn_config(tmp_path):
    import torch
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmffn.apis import deploy
    config = osp.join(REPO, 'configs', 'demo', 'tsm_r18_16f_demo.py')
    init_default_scope('mmaction')
    stock = MODELS.build(Config.fromfile(config).model)
    checkpoint = str(tmp_path / 'tsm.pth')
    torch.save(dict(state_dict=stock.state_dict()), checkpoint)
    with pytest.raises(
            ValueError,
            match=r"tsm_r18_16f_demo: model\.backbone\.type="
            r"'ResNetTSM' is a stock MMAction2 backbone.*"
            r"'ResNetTSM_FFN'"):
        deploy(config, checkpoint, 4, str(tmp_path / 'out'))
