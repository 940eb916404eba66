"""model_config: stock Recognizer2D/3D configs to FFN ones and back."""
import re

import pytest
from mmengine.config import Config

from mmffn.apis import frame_flexible_model, stock_model
from mmffn.models.families import FAMILIES

TSM = dict(
    type='Recognizer2D',
    backbone=dict(
        type='ResNetTSM',
        depth=50,
        num_segments=8,
        pretrained='torchvision://resnet50',
        shift_div=8),
    cls_head=dict(
        type='TSMHead', num_classes=174, in_channels=2048, num_segments=8),
    data_preprocessor=dict(type='ActionDataPreprocessor', format_shape='NCHW'),
    test_cfg=dict(average_clips='prob'))


def test_tsm_becomes_ffn_and_keeps_what_it_does_not_change():
    ffn = frame_flexible_model(TSM, (4, 8, 16), pretrained='r50.pth')
    assert ffn['type'] == 'RecognizerFFN'
    assert ffn['backbone'] == dict(
        type='ResNetTSM_FFN',
        depth=50,
        num_segments=16,
        num_segments_list=(4, 8, 16),
        pretrained='r50.pth',
        shift_div=8)
    assert ffn['cls_head']['num_segments'] == 16
    assert ffn['cls_head']['num_classes'] == 174
    for key in ('data_preprocessor', 'test_cfg'):
        assert ffn[key] == TSM[key]
    assert TSM['backbone']['type'] == 'ResNetTSM'  # input left alone


def test_stock_model_inverts_the_conversion_at_any_count():
    ffn = frame_flexible_model(TSM, (4, 8, 16))
    ffn['distill_loss'] = dict(type='TemporalKLLoss')
    ffn['backbone'].update(branch_policy='strict', alteration_init_std=0.0)
    stock = stock_model(ffn, 6)
    assert stock['type'] == 'Recognizer2D' and 'distill_loss' not in stock
    assert stock['backbone'] == dict(
        type='ResNetTSM',
        depth=50,
        num_segments=6,
        pretrained=None,
        pretrained2d=False,
        shift_div=8)
    assert stock['cls_head']['num_segments'] == 6


def test_every_family_round_trips():
    for stock_type, family in FAMILIES.items():
        backbone = dict(type=stock_type)
        if family.frames_arg:
            backbone[family.frames_arg] = 8
        model = dict(TSM, type=family.recognizer, backbone=backbone)
        ffn = frame_flexible_model(model, (4, 8))
        assert ffn['backbone']['type'] == family.ffn_type
        stock = stock_model(ffn, 8)
        assert stock['type'] == family.recognizer
        assert stock['backbone'] == dict(backbone, **family.no_loading)


def test_3d_recognizers_become_recognizer_ffn_3d():
    """A SlowFast config: the count is the slow pathway's; deployment gives
    the stock Recognizer3D, which reads T from the clip."""
    slowfast = dict(
        type='Recognizer3D',
        backbone=dict(type='ResNet3dSlowFast', resample_rate=4),
        cls_head=dict(type='SlowFastHead', in_channels=2304, num_classes=4))
    ffn = frame_flexible_model(slowfast, (4, 8, 16))
    assert ffn['type'] == 'RecognizerFFN3D'
    assert ffn['backbone'] == dict(
        type='ResNet3dSlowFast_FFN',
        resample_rate=4,
        num_segments_list=(4, 8, 16),
        num_segments=16)
    assert ffn['cls_head'] == slowfast['cls_head']
    stock = stock_model(ffn, 6)
    assert stock['type'] == 'Recognizer3D'
    assert stock['backbone'] == dict(
        type='ResNet3dSlowFast', resample_rate=4, pretrained=None)
    with pytest.raises(
            ValueError,
            match="ResNet3dSlowFast belongs in a Recognizer3D config, got "
            "type='Recognizer2D'"):
        frame_flexible_model(dict(slowfast, type='Recognizer2D'), (4, 8))


def test_works_on_a_loaded_mmaction_config():
    import os.path as osp

    import mmaction
    path = osp.join(
        osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
        'tsm', 'tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_sthv2-rgb.py')
    model = frame_flexible_model(Config.fromfile(path).model, (4, 8))
    assert model['backbone']['type'] == 'ResNetTSM_FFN'
    assert model['cls_head']['num_segments'] == 8


def test_unsupported_inputs_are_named():
    supported = ', '.join(sorted(FAMILIES))
    assert 'UniFormerV2, VisionTransformer, X3D' in supported
    with pytest.raises(
            ValueError,
            match="'NoSuchNet' has no frame-flexible version; supported: " +
            re.escape(supported) + '$'):
        frame_flexible_model(
            dict(TSM, backbone=dict(type='NoSuchNet')), (4, 8))
    # A model with a known reason not to be frame flexible says it.
    with pytest.raises(
            ValueError,
            match=r"'C3D' has no frame-flexible version \(its four temporal "
            'max-pools need clips of 16 frames'):
        frame_flexible_model(
            dict(TSM, type='Recognizer3D', backbone=dict(type='C3D')), (4, 8))
    with pytest.raises(
            ValueError,
            match=r"got type='RecognizerOmni' \(it "
            'trains on image and video loaders'):
        frame_flexible_model(dict(TSM, type='RecognizerOmni'), (4, 8))
    with pytest.raises(
            ValueError,
            match="ResNetTSM belongs in a Recognizer2D config, "
            "got type='Recognizer3D'"):
        frame_flexible_model(dict(TSM, type='Recognizer3D'), (4, 8))
    with pytest.raises(
            ValueError,
            match=r"converts a config of one of \['Recognizer2D', "
            r"'Recognizer3D'\], got type='RecognizerAudio'"):
        frame_flexible_model(dict(TSM, type='RecognizerAudio'), (4, 8))
    with pytest.raises(ValueError, match='frame_counts must be sorted'):
        frame_flexible_model(TSM, (8, 4))
    with pytest.raises(ValueError, match='Expected an FFN model config'):
        stock_model(TSM, 8)
    with pytest.raises(ValueError, match='frames must be a positive int'):
        stock_model(frame_flexible_model(TSM, (4, 8)), 0)


def test_count_shaped_weights_deploy_only_at_trained_counts():
    tanet = dict(TSM, backbone=dict(type='TANet', depth=50, num_segments=8))
    ffn = frame_flexible_model(tanet, (4, 8))
    assert stock_model(ffn, 8)['backbone']['num_segments'] == 8
    with pytest.raises(
            ValueError,
            match=r'only a trained count deploys as '
            r'a stock TANet: got 6, trained \(4, 8\)'):
        stock_model(ffn, 6)
    del ffn['backbone']['num_segments_list']  # the class default (4, 8, 16)
    assert stock_model(ffn, 16)['backbone']['num_segments'] == 16
    with pytest.raises(ValueError, match=r'trained \(4, 8, 16\)'):
        stock_model(ffn, 12)


# --- plain ResNet (TSN) and TRN's count-shaped head --------------------------
TRN = dict(
    TSM,
    backbone=dict(type='ResNet', depth=50, pretrained='torchvision://r50'),
    cls_head=dict(
        type='TRNHead',
        num_classes=174,
        in_channels=2048,
        num_segments=8,
        relation_type='TRNMultiScale'))


def test_trn_head_becomes_its_ffn_version_and_back_at_trained_counts():
    ffn = frame_flexible_model(TRN, (4, 8, 16), pretrained=None)
    assert ffn['backbone'] == dict(
        type='ResNet_FFN',
        depth=50,
        pretrained=None,
        num_segments=16,
        num_segments_list=(4, 8, 16))
    assert ffn['cls_head'] == dict(
        TRN['cls_head'],
        type='TRNHead_FFN',
        num_segments=16,
        num_segments_list=(4, 8, 16))
    assert TRN['cls_head']['type'] == 'TRNHead'  # input left alone
    stock = stock_model(ffn, 4)
    assert stock['backbone'] == dict(type='ResNet', depth=50, pretrained=None)
    assert stock['cls_head'] == dict(TRN['cls_head'], num_segments=4)
    with pytest.raises(
            ValueError,
            match=r'TRNHead_FFN has weights shaped by the frame count, so '
            r'only a trained count deploys as a stock TRNHead: got 6, '
            r'trained \(4, 8, 16\)'):
        stock_model(ffn, 6)
    del ffn['cls_head']['num_segments_list']  # the class default
    assert stock_model(ffn, 8)['cls_head']['num_segments'] == 8


def test_other_heads_are_left_as_they_are():
    tsn = dict(
        TRN, cls_head=dict(type='TSNHead', num_classes=400, in_channels=2048))
    ffn = frame_flexible_model(tsn, (4, 8))
    assert ffn['cls_head'] == tsn['cls_head']
    assert stock_model(ffn, 6)['cls_head'] == tsn['cls_head']
    assert frame_flexible_model(TSM, (4, 8))['cls_head'] == dict(
        TSM['cls_head'], num_segments=8)
