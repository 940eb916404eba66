"""pipeline_config on MMAction2's own 3D recipes (SlowFast, UniFormer,
X3D): the sampler changes, every other step stays."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose

import mmffn  # noqa: F401
from mmffn.apis import fixed_frames_pipeline, multi_rate_pipeline

SLOWFAST = 'slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py'
UNIFORMER = ('uniformer/'
             'uniformer-small_imagenet1k-pre_16x4x1_kinetics400-rgb.py')


def _stock(name, loader):
    """A pipeline of MMAction2's own recognition config ``name``."""
    import mmaction
    path = osp.join(
        osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition', name)
    return Config.fromfile(path)[loader].dataset.pipeline


def test_slowfast_training_pipeline_keeps_its_frame_interval():
    """SampleFrames(clip_len=32, frame_interval=2) -> one clip per count of
    T * resample_rate frames, each drawn as SampleFrames draws it."""
    stock = _stock(SLOWFAST, 'train_dataloader')
    out = multi_rate_pipeline(stock, (4, 8, 16), frames_per_count=4)
    assert [s['type'] for s in out] == [
        'DecordInit', 'MultiRateSampleFrames3D', 'UniqueDecordDecode',
        'Resize', 'RandomResizedCrop', 'Resize', 'Flip', 'FormatShape',
        'PackActionInputs'
    ]
    assert out[1] == dict(
        type='MultiRateSampleFrames3D',
        clip_len_list=(16, 32, 64),
        mode='interval',
        frame_interval=2,
        num_clips=1)
    assert 'clip_lens' in out[-1]['meta_keys']
    assert stock[1]['type'] == 'SampleFrames'  # input untouched
    for before, after in zip(stock[3:-1], out[3:-1]):
        assert dict(before) == after


def test_uniform_sampling_stays_uniform_and_views_are_kept():
    stock = [
        dict(type='DecordInit'),
        dict(type='UniformSample', clip_len=16, num_clips=4, test_mode=True),
        dict(type='DecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    train = multi_rate_pipeline(stock, (4, 8))
    assert train[1] == dict(
        type='MultiRateSampleFrames3D',
        clip_len_list=(4, 8),
        mode='uniform',
        num_clips=4,
        test_mode=True)
    # Testing at another count from the converted training pipeline too.
    for pipeline in (stock, train):
        test = fixed_frames_pipeline(pipeline, 6)
        assert test[1] == dict(
            type='UniformSample', clip_len=6, num_clips=4, test_mode=True)
        assert {'num_clips', 'clip_len'} <= set(test[-1]['meta_keys'])


def test_test_pipelines_at_any_count():
    """UniFormer's 4 views of 16 frames at 6 frames: 4 views of 6; SlowFast
    at 6 slow frames: clips of 24 frames, 10 views, three crops kept."""
    uniformer = fixed_frames_pipeline(_stock(UNIFORMER, 'test_dataloader'), 6)
    assert uniformer[1] == dict(
        type='SampleFrames',
        clip_len=6,
        frame_interval=4,
        num_clips=4,
        test_mode=True)
    slowfast = fixed_frames_pipeline(
        _stock(SLOWFAST, 'test_dataloader'), 6, frames_per_count=4)
    assert slowfast[1]['clip_len'] == 24 and slowfast[1]['num_clips'] == 10
    assert slowfast[4]['type'] == 'ThreeCrop'


def test_paper_protocol_on_an_interval_recipe():
    """mode='uniform' on SlowFast's SampleFrames recipe: every count over
    the same span (the frame interval goes), tests with UniformSample and
    the recipe's views; options uniform sampling cannot keep are refused."""
    train = multi_rate_pipeline(
        _stock(SLOWFAST, 'train_dataloader'), (4, 8),
        frames_per_count=4,
        mode='uniform')
    assert train[1] == dict(
        type='MultiRateSampleFrames3D',
        clip_len_list=(16, 32),
        mode='uniform',
        num_clips=1)
    test = fixed_frames_pipeline(
        _stock(SLOWFAST, 'test_dataloader'), 6, 4, mode='uniform')
    assert test[1] == dict(
        type='UniformSample', clip_len=24, num_clips=10, test_mode=True)
    x3d = [
        dict(
            type='SampleFrames',
            clip_len=13,
            frame_interval=6,
            num_clips=10,
            target_fps=30,
            test_mode=True),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    with pytest.raises(
            ValueError,
            match=r"mode=\"uniform\" cannot keep the options \['target_fps'\]"
    ):
        fixed_frames_pipeline(x3d, 6, mode='uniform')
    with pytest.raises(ValueError, match='needs a frame interval'):
        multi_rate_pipeline(train, (4, 8), mode='interval')
    with pytest.raises(ValueError, match="mode must be one of"):
        multi_rate_pipeline(x3d, (4, 8), mode='dense')


def test_frames_per_count_is_refused_for_2d_pipelines():
    stock = [
        dict(type='SampleFrames', clip_len=1, num_clips=8),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs')
    ]
    with pytest.raises(
            ValueError, match='frames_per_count and mode are for 3D'):
        multi_rate_pipeline(stock, (4, 8), frames_per_count=4)
    with pytest.raises(
            ValueError, match='frames_per_count and mode are for 3D'):
        fixed_frames_pipeline(stock, 4, frames_per_count=2)
    with pytest.raises(ValueError, match='frames_per_count'):
        multi_rate_pipeline(stock, (4, 8), frames_per_count=0)
    with pytest.raises(ValueError, match="mode='uniform' for a 2D one"):
        multi_rate_pipeline(stock, (4, 8), mode='uniform')


def test_converted_slowfast_pipeline_runs_on_a_video(tiny_video_root):
    """The converted recipe, shrunk to the tiny videos, gives one clip of
    (16 + 32) frames per sample; testing at 4 slow frames 16 frames."""
    from mmengine.registry import DefaultScope
    train = multi_rate_pipeline(
        _stock(SLOWFAST, 'train_dataloader'), (4, 8), frames_per_count=4)
    train[3]['scale'] = (-1, 40)
    train[5]['scale'] = (32, 32)
    test = fixed_frames_pipeline(
        _stock(SLOWFAST, 'val_dataloader'), 4, frames_per_count=4)
    test[3]['scale'] = (-1, 40)
    test[4]['crop_size'] = 32
    with open(osp.join(tiny_video_root, 'train.txt')) as f:
        video = f.readline().split()[0]
    results = dict(
        filename=osp.join(tiny_video_root, video),
        label=0,
        start_index=0,
        modality='RGB')
    with DefaultScope.overwrite_default_scope('mmaction'):
        train, test = Compose(train), Compose(test)
    packed = train(dict(results))
    assert packed['inputs'].shape == (1, 3, 48, 32, 32)
    assert packed['data_samples'].metainfo['clip_lens'] == (16, 32)
    packed = test(dict(results))
    assert packed['inputs'].shape == (1, 3, 16, 32, 32)
    assert isinstance(packed['inputs'], torch.Tensor)


def test_repeat_aug_dataset_keeps_its_stock_decoder():
    """MViT's RepeatAugDataset requires DecordDecode third (it decodes every
    repeat in one call): multi_rate_loader keeps it there; the same pipeline
    in a VideoDataset gets the deduplicating decoder."""
    from mmaction.registry import DATASETS
    from mmengine.registry import DefaultScope

    from mmffn.apis import multi_rate_loader
    mvit = 'mvit/mvit-small-p244_32xb16-16x4x1-200e_kinetics400-rgb.py'
    import mmaction
    stock = Config.fromfile(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            mvit)).train_dataloader
    assert stock.dataset.type == 'RepeatAugDataset'
    out = multi_rate_loader(stock, (4, 8, 16))
    steps = [s['type'] for s in out['dataset']['pipeline']]
    assert steps[:3] == [
        'DecordInit', 'MultiRateSampleFrames3D', 'DecordDecode'
    ]
    # Without the RandAugment step, which needs pytorchvideo.
    pipeline = [
        s for s in out['dataset']['pipeline']
        if s['type'] != 'PytorchVideoWrapper'
    ]
    dataset = dict(
        out['dataset'], pipeline=pipeline, ann_file='', lazy_init=True)
    with DefaultScope.overwrite_default_scope('mmaction'):
        DATASETS.build(dataset)  # the stock check of its first three steps
    as_video = dict(stock, dataset=dict(stock.dataset, type='VideoDataset'))
    steps = [
        s['type']
        for s in multi_rate_loader(as_video, (4, 8, 16))['dataset']['pipeline']
    ]
    assert steps[2] == 'UniqueDecordDecode'
