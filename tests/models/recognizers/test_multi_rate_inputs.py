"""Multi-rate training clips reach only a recognizer that knows what the
sampler drew.

* A stock ``Recognizer2D`` with a frame-flexible backbone cannot split
  them: a TypeError naming ``RecognizerFFN`` (it used to fail in the head
  with ``operands could not be broadcast together``).
* ``RecognizerFFN`` refuses samples without the sampler's ``clip_lens``:
  with other counts of the same total (sampler 4/8/16, backbone 4/6/18) it
  used to split the 28 frames 4/6/18 without a word.
"""
import os.path as osp
import re
from unittest.mock import MagicMock

import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401

SAMPLED = (4, 8, 16)
NEED_FFN = re.escape("Multi-rate inputs (MultiRateSampleFrames) need model "
                     "type='RecognizerFFN'")


def build(recognizer, counts, num_segments=None):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type=recognizer,
            backbone=dict(
                type='ResNetTSM_FFN',
                depth=18,
                num_segments_list=counts,
                num_segments=num_segments),
            cls_head=dict(
                type='TSMHead',
                num_classes=4,
                in_channels=512,
                num_segments=num_segments or counts[-1],
                average_clips='prob'),
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCHW')))
    model.init_weights()
    return model.train()


def samples(n, **meta):
    out = []
    for i in range(n):
        sample = ActionDataSample().set_gt_label(torch.tensor([i % 4]))
        sample.set_metainfo(meta)
        out.append(sample)
    return out


@pytest.fixture(scope='module')
def stock_with_ffn_backbone():
    return build('Recognizer2D', SAMPLED)


@pytest.mark.parametrize('batch', [2, 4])
def test_recognizer2d_refuses_multi_rate_clips(stock_with_ffn_backbone, batch):
    """Batch 4 is 112 frames = 7 whole 16-frame clips: the backbone alone
    cannot tell; the data samples and the clip length can."""
    model = stock_with_ffn_backbone
    inputs = torch.zeros(batch, sum(SAMPLED), 3, 32, 32)
    with pytest.raises(
            TypeError,
            match=re.escape(
                'Recognizer2D with the frame-flexible ResNetTSM_FFN got '
                'multi-rate training inputs (data samples with clip_lens '
                '(4, 8, 16)), which it would run as clips of 16 frames.') +
            '.*' + NEED_FFN):
        model(inputs, samples(batch, clip_lens=SAMPLED), mode='loss')
    # PackActionInputs without clip_lens: 28 = 4 + 8 + 16 frames.
    with pytest.raises(
            TypeError,
            match=re.escape('(clips of 28 = sum(4, 8, 16) frames)') + '.*' +
            NEED_FFN):
        model(inputs, samples(batch), mode='loss')


def test_recognizer2d_with_ffn_backbone_trains_on_single_rate_clips(
        stock_with_ffn_backbone):
    losses = stock_with_ffn_backbone(
        torch.randn(2, 16, 3, 32, 32), samples(2), mode='loss')
    assert torch.isfinite(losses['loss_cls'])


@pytest.fixture(scope='module')
def ffn_4_6_18():
    """The backbone's counts differ from the sampler's, same total 28."""
    return build('RecognizerFFN', (4, 6, 18))


def test_recognizer_ffn_refuses_samples_without_clip_lens(ffn_4_6_18):
    inputs = torch.randn(2, 28, 3, 32, 32)
    with pytest.raises(
            ValueError,
            match=re.escape(
                '2 of 2 training data samples carry no clip_lens, so '
                'RecognizerFFN cannot check that their 28 frames hold clips '
                "of (4, 6, 18) frames. Keep the sampler's counts: "
                "PackActionInputs(meta_keys=(..., 'clip_lens'))")):
        ffn_4_6_18(inputs, samples(2), mode='loss')
    with pytest.raises(
            ValueError, match=re.escape('1 of 2 training data samples')):
        ffn_4_6_18(
            inputs, samples(1, clip_lens=(4, 6, 18)) + samples(1), mode='loss')
    with pytest.raises(
            ValueError,
            match=re.escape(
                'Sampler clip_lens (4, 8, 16) do not match the backbone '
                'num_segments_list (4, 6, 18)')):
        ffn_4_6_18(inputs, samples(2, clip_lens=SAMPLED), mode='loss')
    losses = ffn_4_6_18(inputs, samples(2, clip_lens=(4, 6, 18)), mode='loss')
    assert torch.isfinite(losses['loss_cls'] + losses['loss_distill'])


def test_pipeline_that_drops_clip_lens_does_not_train(ffn_4_6_18,
                                                      tiny_video_root):
    """The issue's run: MultiRateSampleFrames(4, 8, 16), PackActionInputs
    with its default meta keys, a 4/6/18 backbone; train_step refuses."""
    pipeline = Compose([
        dict(type='DecordInit'),
        dict(type='MultiRateSampleFrames', num_clips_list=SAMPLED),
        dict(type='UniqueDecordDecode'),
        dict(type='Resize', scale=(32, 32), keep_ratio=False),
        dict(type='FormatShape', input_format='NCHW'),
        dict(type='PackActionInputs'),
    ])
    videos = [
        osp.join(tiny_video_root, 'videos', f'train_{i:05d}.mp4')
        for i in range(2)
    ]
    batch = pseudo_collate([
        pipeline(dict(filename=video, label=i, start_index=0))
        for i, video in enumerate(videos)
    ])
    assert batch['inputs'][0].shape[0] == 28
    optim_wrapper = MagicMock()
    with pytest.raises(ValueError, match='carry no clip_lens'):
        ffn_4_6_18.train_step(batch, optim_wrapper)
    optim_wrapper.update_params.assert_not_called()
