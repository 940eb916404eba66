"""Testing at 0 (or a negative number of) frames stops up front with a
ValueError naming the value, on every path a frame count takes: the
sampler of a test pipeline (tools/test.py, the inference API), the
recognizer reading T from its data samples, and the frame sweep."""
import os.path as osp
import re
import sys

import pytest
import torch
from e2e_helpers import FFN_DEMO, TINY_CLASSES, run_tool, tiny_cfg_options
from mmaction.registry import MODELS, TRANSFORMS
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401

init_default_scope('mmaction')


@pytest.mark.parametrize('num_clips', [0, -4])
def test_sample_frames_refuses_the_count_when_built(num_clips):
    for test_mode in (True, False):
        with pytest.raises(
                ValueError,
                match=re.escape('SampleFrames num_clips must be a positive '
                                f'int, got {num_clips}')):
            TRANSFORMS.build(
                dict(
                    type='SampleFrames',
                    clip_len=1,
                    num_clips=num_clips,
                    test_mode=test_mode))
    with pytest.raises(
            ValueError,
            match='SampleFrames clip_len must be a positive int, got 0'):
        TRANSFORMS.build(dict(type='SampleFrames', clip_len=0, num_clips=8))
    # Valid counts sample as before.
    sampler = TRANSFORMS.build(
        dict(type='SampleFrames', clip_len=1, num_clips=8, test_mode=True))
    inds = sampler(dict(total_frames=16, start_index=0))['frame_inds']
    assert inds.tolist() == [1, 3, 5, 7, 9, 11, 13, 15]


@pytest.fixture(scope='module')
def ffn_model():
    torch.manual_seed(0)
    cfg = Config.fromfile(FFN_DEMO)
    cfg.model.cls_head.num_classes = len(TINY_CLASSES)
    return MODELS.build(cfg.model).eval()


@pytest.mark.parametrize('meta,message', [
    (dict(num_clips=0), 'num_clips of a test data sample must be a positive '
     'int, got 0'),
    (dict(num_clips=-4), 'num_clips of a test data sample must be a positive '
     'int, got -4'),
    (dict(num_clips=4, clip_len=0), 'clip_len of a test data sample must be '
     'a positive int, got 0'),
])
def test_recognizer_names_the_count_it_reads(ffn_model, meta, message):
    sample = ActionDataSample()
    sample.set_metainfo(meta)
    with pytest.raises(ValueError, match=re.escape(message)):
        with torch.no_grad():
            ffn_model(torch.zeros(1, 8, 3, 32, 32), [sample], mode='predict')


def test_inference_api_at_zero_frames(tiny_video_root):
    from mmaction.apis import inference_recognizer, init_recognizer
    cfg = Config.fromfile(FFN_DEMO)
    cfg.model.cls_head.num_classes = len(TINY_CLASSES)
    cfg.test_pipeline[1].num_clips = 0
    model = init_recognizer(cfg, None, 'cpu')
    video = osp.join(tiny_video_root, 'videos', 'val_00000.mp4')
    assert osp.isfile(video)
    with pytest.raises(
            ValueError,
            match='SampleFrames num_clips must be a positive int, got 0'):
        inference_recognizer(model, video)


def test_frame_sweep_checks_every_count_before_the_first_run(tmp_path):
    from mmffn.apis import evaluate_at_frames
    with pytest.raises(
            ValueError, match='frame count must be a positive int, got 0'):
        evaluate_at_frames(FFN_DEMO, str(tmp_path / 'unused.pth'), [4, 0],
                           str(tmp_path / 'runs'))
    assert not osp.exists(tmp_path / 'runs')  # not even the 4-frame run


@pytest.mark.slow
def test_test_tool_at_zero_frames(tiny_video_root, tmp_path):
    """tools/test.py stops while building the test data, before testing
    anything, and says which value is wrong."""
    init_default_scope('mmaction')
    cfg = Config.fromfile(FFN_DEMO)
    cfg.model.cls_head.num_classes = len(TINY_CLASSES)
    checkpoint = str(tmp_path / 'random.pth')
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()},
               checkpoint)
    proc = run_tool([
        sys.executable, 'tools/test.py', FFN_DEMO, checkpoint, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options',
        *tiny_cfg_options(tiny_video_root),
        'test_dataloader.dataset.pipeline.1.num_clips=0'
    ],
                    check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ('ValueError: SampleFrames num_clips must be a positive int, '
            'got 0') in output, output[-3000:]
    assert 'ZeroDivisionError' not in output
    assert 'Epoch(test)' not in output  # no clip was tested
