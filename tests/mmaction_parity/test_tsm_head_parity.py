"""Peer of MMAction2's ``tests/models/heads/test_tsm_head.py``.

The upstream TSMHead cases (its construction and the output shapes with and
without ``temporal_pool``) applied through ``RecognizerFFN`` with a
``ResNetTSM_FFN`` (depth 50, counts (4, 8)) backbone, where the head must
pool over the clip's own frame count: a TSMHead built with the default
``num_segments=8`` and used on 4-frame clips averages 4 frames per video.
"""
import pytest
import torch
import torch.nn as nn
from mmaction.models import TSMHead
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmaction.utils import register_all_modules

import mmffn  # noqa: F401  (registers RecognizerFFN, ResNetTSM_FFN)

register_all_modules()


def build_recognizer(temporal_pool=False):
    torch.manual_seed(0)
    # average_clips='score' (default: None, the views' scores unaveraged)
    head = dict(
        type='TSMHead', num_classes=4, in_channels=2048, average_clips='score')
    if temporal_pool:
        head['temporal_pool'] = True
    model = MODELS.build(
        dict(
            type='RecognizerFFN',
            backbone=dict(
                type='ResNetTSM_FFN',
                depth=50,
                num_segments_list=(4, 8),
                temporal_pool=temporal_pool,
                pretrained=None),
            cls_head=head,
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCHW')))
    model.init_weights()
    model.eval()
    return model


@pytest.fixture(scope='module')
def recognizer():
    return build_recognizer()


@pytest.fixture(scope='module')
def recognizer_temporal_pool():
    return build_recognizer(temporal_pool=True)


def clips(num_videos, num_frames, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(num_videos, num_frames, 3, 32, 32, generator=gen)


def manual_scores(model, inputs, per_video):
    """Backbone features -> fc_cls -> mean over `per_video` rows."""
    with torch.no_grad():
        feats = model(inputs, mode='tensor', stage='backbone')
        logits = model.cls_head.fc_cls(
            torch.flatten(model.cls_head.avg_pool(feats), 1))
    return logits.view(-1, per_video, logits.shape[-1]).mean(1)


def test_head_construction(recognizer):
    head = recognizer.cls_head
    assert isinstance(head, TSMHead)
    assert head.num_classes == 4
    assert head.dropout_ratio == 0.8
    assert head.in_channels == 2048
    assert head.init_std == 0.001
    assert head.consensus.dim == 1
    assert head.spatial_type == 'avg'
    assert head.num_segments == 8
    assert isinstance(head.dropout, nn.Dropout)
    assert head.dropout.p == head.dropout_ratio
    assert isinstance(head.fc_cls, nn.Linear)
    assert head.fc_cls.in_features == head.in_channels
    assert head.fc_cls.out_features == head.num_classes
    assert isinstance(head.avg_pool, nn.AdaptiveAvgPool2d)
    assert head.avg_pool.output_size == 1
    # init_weights: normal(0, init_std) classifier, zero bias.
    assert head.fc_cls.weight.std() < 0.01
    assert torch.all(head.fc_cls.bias == 0)


@pytest.mark.parametrize('num_videos,num_frames', [(1, 8), (3, 4)])
def test_head_pools_over_the_clip_frame_count(recognizer, num_videos,
                                              num_frames):
    """Upstream: 8 frames -> (1, 4). Here the head (num_segments=8) must
    average each video's own frames, also at 4 frames per clip."""
    inputs = clips(num_videos, num_frames)
    with torch.no_grad():
        scores = recognizer(inputs, mode='tensor', stage='head')
    assert scores.shape == torch.Size([num_videos, 4])
    torch.testing.assert_close(
        scores,
        manual_scores(recognizer, inputs, num_frames),
        atol=1e-5,
        rtol=1e-4)
    assert recognizer.cls_head.num_segments == 8  # restored afterwards


@pytest.mark.parametrize('num_frames', [8, 4])
def test_head_pools_per_clip_in_predict(recognizer, num_frames):
    """Two videos of num_frames frames, 2 views each (num_clips kept)."""
    inputs = clips(2, 2 * num_frames, seed=1)
    samples = [ActionDataSample() for _ in range(2)]
    for sample in samples:  # set_metainfo returns None: no chaining
        sample.set_metainfo({'num_clips': num_frames})
    with torch.no_grad():
        predictions = recognizer.predict(inputs, samples)
    scores = torch.stack([p.pred_score for p in predictions])
    assert scores.shape == (2, 4)
    # average_clips='score': the mean of the views' logits.
    views = inputs.reshape(4, num_frames, 3, 32, 32)  # one clip per row
    per_view = manual_scores(recognizer, views, num_frames)
    torch.testing.assert_close(
        scores, per_view.view(2, 2, 4).mean(1), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('num_videos,num_frames', [(1, 8), (2, 4)])
def test_temporal_pool_head_pools_over_half_the_frames(
        recognizer_temporal_pool, num_videos, num_frames):
    """Upstream: temporal_pool head on 8 features -> (2, 4), i.e. it groups
    num_segments // 2 features. Behind a temporal-pool backbone a clip of T
    frames leaves T // 2 features, which the head must average per video."""
    model = recognizer_temporal_pool
    assert model.cls_head.temporal_pool and model.cls_head.is_shift
    inputs = clips(num_videos, num_frames, seed=2)
    with torch.no_grad():
        feats = model(inputs, mode='tensor', stage='backbone')
        scores = model(inputs, mode='tensor', stage='head')
    assert feats.shape[0] == num_videos * num_frames // 2
    assert scores.shape == torch.Size([num_videos, 4])
    torch.testing.assert_close(
        scores,
        manual_scores(model, inputs, num_frames // 2),
        atol=1e-5,
        rtol=1e-4)
