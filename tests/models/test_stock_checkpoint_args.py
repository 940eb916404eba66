"""Issue 26, items 9 and 12: a stock checkpoint is checked against the FFN
model it fills, from the config saved in it (read as data): the count a 3D
checkpoint was trained at, backbone arguments that change the function
without changing a weight's shape, and clear errors for an FFN checkpoint,
a meta that is no dict and a stock checkpoint that moved."""
import copy

import pytest
import torch
from mmaction.registry import MODELS
from mmengine.registry import init_default_scope
from shared_builders import TINY_SLOWFAST, TINY_X3D

import mmffn  # noqa: F401
from mmffn.apis import frame_flexible_model
from mmffn.models.stock_checkpoint import checkpoint_frames


def build(cfg, **overrides):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    return MODELS.build(dict(copy.deepcopy(cfg), **overrides))


def pipeline(**sampler):
    return [
        dict(type='DecordInit'),
        dict(sampler, num_clips=1),
        dict(type='DecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]


def save(path, model, cfg_text):
    torch.save(
        dict(state_dict=model.state_dict(), meta=dict(cfg=cfg_text)), path)
    return str(path)


def x3d_config_text(clip_len, sampler='SampleFrames'):
    return (f'model = {TINY_X3D!r}\n'
            'train_dataloader = ' + repr(
                dict(
                    batch_size=2,
                    dataset=dict(
                        type='VideoDataset',
                        pipeline=pipeline(type=sampler, clip_len=clip_len)))) +
            '\n')


def test_the_count_of_a_3d_checkpoint_is_its_training_clip_len(tmp_path):
    path = save(tmp_path / 'x3d16.pth', build(TINY_X3D), x3d_config_text(16))
    assert checkpoint_frames(torch.load(path)) == 16
    ffn = frame_flexible_model(TINY_X3D, (2, 4))
    with pytest.raises(
            ValueError,
            match=r'x3d16\.pth was trained at 16 frames.*'
            r'highest count, the teacher, is 4'):
        build(ffn, stock_checkpoint=path).init_weights()
    # At its own count it loads.
    fits = save(tmp_path / 'x3d4.pth', build(TINY_X3D),
                x3d_config_text(4, sampler='UniformSample'))
    build(ffn, stock_checkpoint=fits).init_weights()


def test_slowfast_counts_the_slow_pathway():
    text = (f'model = {TINY_SLOWFAST!r}\ntrain_pipeline = ' +
            repr(pipeline(type='SampleFrames', clip_len=16)) + '\n')
    checkpoint = dict(meta=dict(cfg=text))
    assert TINY_SLOWFAST['backbone']['resample_rate'] == 4
    assert checkpoint_frames(checkpoint) == 4


TSM = dict(
    type='Recognizer2D',
    backbone=dict(type='ResNetTSM', depth=18, pretrained=None, num_segments=4),
    cls_head=dict(
        type='TSMHead',
        num_classes=3,
        in_channels=512,
        num_segments=4,
        average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCHW'))


def tsm(**backbone):
    cfg = copy.deepcopy(TSM)
    cfg['backbone'].update(backbone)
    return cfg


@pytest.mark.parametrize('saved, model, named', [
    (dict(shift_div=4), dict(), 'shift_div=4.*shift_div=8'),
    (dict(), dict(shift_div=4), 'shift_div=8.*shift_div=4'),
    (dict(shift_place='block'), dict(), "shift_place='block'.*'blockres'"),
    (dict(temporal_pool=True), dict(), 'temporal_pool=True.*False'),
])
def test_tsm_arguments_that_change_the_function_must_match(
        tmp_path, saved, model, named):
    stock = tsm(**saved)
    path = save(tmp_path / 'tsm.pth', build(stock), f'model = {stock!r}\n')
    with pytest.raises(
            ValueError,
            match=r'tsm\.pth was trained with other '
            r'backbone arguments.*' + named):
        build(
            frame_flexible_model(tsm(**model), (2, 4)),
            stock_checkpoint=path).init_weights()


def test_equal_tsm_arguments_load(tmp_path):
    stock = tsm(shift_div=4)
    path = save(tmp_path / 'tsm.pth', build(stock), f'model = {stock!r}\n')
    build(
        frame_flexible_model(stock, (2, 4)),
        stock_checkpoint=path).init_weights()


def test_an_ffn_checkpoint_as_stock_checkpoint_is_named(tmp_path):
    ffn = frame_flexible_model(TSM, (2, 4))
    path = tmp_path / 'ffn.pth'
    torch.save(dict(state_dict=build(ffn).state_dict()), path)
    with pytest.raises(
            ValueError,
            match=r'ffn\.pth is a checkpoint of an FFN model.*'
            r'load_from.*model\.stock_checkpoint=None'):
        build(ffn, stock_checkpoint=str(path)).init_weights()


def test_a_meta_that_is_a_list_is_named(tmp_path):
    path = tmp_path / 'listmeta.pth'
    torch.save(dict(state_dict=build(TSM).state_dict(), meta=['cfg']), path)
    with pytest.raises(
            ValueError, match=r"listmeta\.pth's meta is a list, not a dict"):
        build(
            frame_flexible_model(TSM, (2, 4)),
            stock_checkpoint=str(path)).init_weights()


def test_a_moved_stock_checkpoint_names_the_option(tmp_path):
    path = str(tmp_path / 'moved.pth')
    with pytest.raises(
            FileNotFoundError,
            match=r'moved\.pth.*does not exist.*'
            r'model\.stock_checkpoint=PATH.*--resume'):
        build(
            frame_flexible_model(TSM, (2, 4)),
            stock_checkpoint=path).init_weights()
