"""TRNHead_FFN: at every trained count the stock TRNHead built for it; the
copies' start (TimeSformer's rule); MMAction2's own TRNHead cases,
rewritten; the TRN configs convert and build; the recognizer tells the
head the count."""
import glob
import os.path as osp

import mmaction
import numpy as np
import pytest
import torch
import torch.nn as nn
from mmaction.models import TRNHead
from mmaction.models.heads.trn_head import (RelationModule,
                                            RelationModuleMultiScale)
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model, stock_model
from mmffn.models.heads import TRNHead_FFN
from mmffn.models.heads.trn_head_ffn import relation_module_for
from mmffn.models.layers import resample_frames, to_static

DEFAULT_COUNTS = (4, 8, 16)
TINY_COUNTS = (2, 3)
RELATIONS = ('TRN', 'TRNMultiScale')
# Tiny: 16 input channels, hidden 6, 5 classes; dropout on (same seed).
HEAD = dict(num_classes=5, in_channels=16, hidden_dim=6, dropout_ratio=0.5)


def _ffn(relation_type, counts, num_segments=None, seed=0):
    torch.manual_seed(seed)
    return TRNHead_FFN(
        num_segments=num_segments,
        relation_type=relation_type,
        num_segments_list=counts,
        **HEAD)


def _stock(relation_type, count, seed=0):
    torch.manual_seed(seed)
    return TRNHead(num_segments=count, relation_type=relation_type, **HEAD)


def _features(count, clips=2, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(clips * count, 16, 2, 2, generator=generator)


def _run(head, x, count, seed=5):
    """The head at ``count`` with the same dropout mask and relation
    subsample draws (TRNMultiScale draws with numpy, in eval too)."""
    head.num_segments = count
    torch.manual_seed(seed)
    np.random.seed(seed)
    return head(x, x.shape[0])


# --- equal to the stock head -------------------------------------------------
@pytest.mark.parametrize('relation_type', RELATIONS)
@pytest.mark.parametrize('counts', [DEFAULT_COUNTS, TINY_COUNTS])
def test_equals_the_stock_head_at_every_count(relation_type, counts):
    """Each copy in a stock TRNHead(num_segments=T): same outputs (train
    mode, dropout), same gradients; copies of other counts get none."""
    ffn = _ffn(relation_type, counts)
    for count in counts:
        ffn.zero_grad()
        stock = _stock(relation_type, count)
        stock.load_state_dict(to_static(ffn, count).state_dict())
        ffn.train()
        stock.train()
        x = _features(count)
        got = _run(ffn, x, count)
        expected = _run(stock, x, count)
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        probe = torch.randn_like(got)
        (got * probe).sum().backward()
        (expected * probe).sum().backward()
        stock_grads = dict(stock.named_parameters())
        for key, param in ffn.named_parameters():
            prefix = f'consensus.branches.{count}.'
            if key.startswith('consensus.') and not key.startswith(prefix):
                assert param.grad is None, key
                continue
            stock_param = stock_grads[key.replace(prefix, 'consensus.')]
            if stock_param.grad is None:  # a scale the draw skipped
                assert param.grad is None, key
            else:
                torch.testing.assert_close(
                    param.grad, stock_param.grad, atol=1e-6, rtol=0, msg=key)


@pytest.mark.parametrize('relation_type', RELATIONS)
def test_no_clip_depends_on_another_clip(relation_type):
    ffn = _ffn(relation_type, DEFAULT_COUNTS).eval()
    for count in DEFAULT_COUNTS:
        x = _features(count, clips=3)
        with torch.no_grad():
            batch = _run(ffn, x, count)
            for i in range(3):
                alone = _run(ffn, x[i * count:(i + 1) * count], count)
                torch.testing.assert_close(
                    batch[i:i + 1], alone, atol=1e-6, rtol=0)


def test_untrained_count_uses_the_nearest_copy_on_resampled_features():
    ffn = _ffn('TRN', DEFAULT_COUNTS).eval()
    x = _features(6)
    with torch.no_grad():
        got = _run(ffn, x, 6)
        assert ffn.consensus.active == 8  # 6 -> 8 (ties go up)
        frames = ffn.fc_cls(x.mean((2, 3))).view(2, 6, -1)
        expected = ffn.consensus.branch(8)(
            resample_frames(frames, 8, dim=1).contiguous())
    torch.testing.assert_close(got, expected)
    assert ffn.branch_for(12) == 16 and ffn.branch_for(1) == 4


# --- the start of each copy --------------------------------------------------
@pytest.mark.parametrize('relation_type', RELATIONS)
def test_init_equals_stock_init(relation_type):
    """Same seed: the shared layers and the copy of ``num_segments`` are
    the stock head's init, every other copy that copy resampled; building
    the copies draws nothing from the global RNG."""
    stock = _stock(relation_type, 8, seed=3)
    stock.init_weights()
    after_stock = torch.rand(3)
    ffn = _ffn(relation_type, DEFAULT_COUNTS, num_segments=8, seed=3)
    ffn.init_weights()
    torch.testing.assert_close(torch.rand(3), after_stock)
    state = ffn.state_dict()
    for key, value in stock.state_dict().items():
        key = key.replace('consensus.', 'consensus.branches.8.')
        torch.testing.assert_close(state[key], value, msg=key)
    for count in (4, 16):
        expected = relation_module_for(stock.consensus, count).state_dict()
        got = ffn.consensus.branch(count).state_dict()
        assert list(got) == list(expected)
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], msg=key)


def test_copies_start_from_the_stock_module_resampled_in_time():
    stock = _stock('TRNMultiScale', 8).consensus
    four = relation_module_for(stock, 4)
    # Scales 4, 3, 2 mean the same at every count: the stock MLPs.
    for index, scale in enumerate(four.scales):
        source = stock.fc_fusion_scales[8 - scale]
        for a, b in zip(four.fc_fusion_scales[index].parameters(),
                        source.parameters()):
            assert torch.equal(a, b)
    sixteen = relation_module_for(stock, 16)
    assert list(sixteen.scales) == list(range(16, 1, -1))
    # Scale 12 starts from the stock scale 8, resampled 8 -> 12 frames.
    weight = stock.fc_fusion_scales[0][1].weight.reshape(256, 8, 6)
    expected = resample_frames(weight, 12, dim=1) * (8 / 12)
    torch.testing.assert_close(sixteen.fc_fusion_scales[4][1].weight,
                               expected.reshape(256, 72))
    assert torch.equal(sixteen.fc_fusion_scales[4][3].weight,
                       stock.fc_fusion_scales[0][3].weight)
    # TRN: one MLP over all frames, its first Linear resampled.
    single = _stock('TRN', 8).consensus
    two = relation_module_for(single, 2)
    weight = single.classifier[1].weight.reshape(512, 8, 6)
    torch.testing.assert_close(two.classifier[1].weight,
                               (resample_frames(weight, 2, dim=1) *
                                4).reshape(512, 12))
    # The ends are kept: frame 0 of the 2-frame copy is frame 0 of 8.
    torch.testing.assert_close(two.classifier[1].weight[:, :6],
                               4 * weight[:, 0])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r'at least 2.*\(1, 4\)'):
        TRNHead_FFN(num_segments_list=(1, 4), **HEAD)
    TRNHead_FFN(num_segments_list=(1, 4), relation_type='TRN', **HEAD)
    with pytest.raises(ValueError, match='num_segments_list must be sorted'):
        TRNHead_FFN(num_segments_list=(8, 4), **HEAD)
    with pytest.raises(ValueError, match='num_segments must be a positive'):
        TRNHead_FFN(num_segments=0, **HEAD)


# --- MMAction2's TRNHead cases (tests/models/heads/test_trn_head.py) --------
def test_mmaction_trn_head_cases():
    head = TRNHead_FFN(
        num_classes=4,
        in_channels=2048,
        relation_type='TRN',
        num_segments=8,
        num_segments_list=(4, 8))
    head.init_weights()
    assert head.num_classes == 4
    assert head.dropout_ratio == 0.8
    assert head.in_channels == 2048
    assert head.init_std == 0.001
    assert head.spatial_type == 'avg'
    for count in (4, 8):
        relation_module = head.consensus.branch(count)
        assert isinstance(relation_module, RelationModule)
        assert relation_module.num_segments == count
        assert relation_module.hidden_dim == 256
        assert isinstance(relation_module.classifier[3], nn.Linear)
        assert relation_module.classifier[3].out_features == 4
    assert head.dropout.p == head.dropout_ratio
    assert isinstance(head.dropout, nn.Dropout)
    assert isinstance(head.fc_cls, nn.Linear)
    assert head.fc_cls.in_features == head.in_channels
    assert head.fc_cls.out_features == head.hidden_dim
    assert isinstance(head.avg_pool, nn.AdaptiveAvgPool2d)
    assert head.avg_pool.output_size == 1

    feat = torch.rand(8, 2048, 7, 7)
    assert head(feat, 8).shape == torch.Size([1, 4])
    head.num_segments = 4  # what the FFN recognizer sets
    assert head(feat, 8).shape == torch.Size([2, 4])

    head = TRNHead_FFN(
        num_classes=4,
        in_channels=2048,
        num_segments=8,
        relation_type='TRNMultiScale',
        num_segments_list=(4, 8))
    head.init_weights()
    assert isinstance(head.consensus.branch(8), RelationModuleMultiScale)
    assert head.consensus.branch(8).scales == range(8, 1, -1)
    assert head.consensus.branch(4).scales == range(4, 1, -1)
    assert head(feat, 8).shape == torch.Size([1, 4])

    with pytest.raises(ValueError):
        TRNHead_FFN(
            num_classes=4,
            in_channels=2048,
            num_segments=8,
            relation_type='RelationModlue')


# --- the packaged configs and the recognizer ---------------------------------
CONFIG_ROOT = osp.join(
    osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition', 'trn')
TRN_CONFIGS = sorted(glob.glob(osp.join(CONFIG_ROOT, '*.py')))


@pytest.mark.parametrize(
    'path', TRN_CONFIGS, ids=[osp.basename(p) for p in TRN_CONFIGS])
def test_every_packaged_config_converts_and_builds(path):
    """Converted by frame_flexible_model, built by MODELS (depth cut to 18,
    as the conversion does not read it), deployed back at a trained
    count."""
    model = Config.fromfile(path).model.to_dict()
    ffn = frame_flexible_model(model, DEFAULT_COUNTS, pretrained=None)
    assert ffn['cls_head'] == dict(
        model['cls_head'],
        type='TRNHead_FFN',
        num_segments=16,
        num_segments_list=DEFAULT_COUNTS)
    assert ffn['backbone']['type'] == 'ResNet_FFN'
    ffn['backbone']['depth'] = 18
    ffn['cls_head']['in_channels'] = 512
    init_default_scope('mmaction')
    built = MODELS.build(ffn)
    assert isinstance(built.cls_head, TRNHead_FFN)
    assert built.cls_head.consensus.frame_counts == DEFAULT_COUNTS
    stock = stock_model(ffn, 8)
    assert stock['cls_head'] == dict(model['cls_head'], in_channels=512)
    with pytest.raises(ValueError, match=r'only a trained count.*TRNHead'):
        stock_model(ffn, 6)


def test_recognizer_tells_the_head_the_count():
    """RecognizerFFN's loss runs the head at each count (one relation copy
    each) and predict at the clip's count, which the head sees."""
    from mmaction.structures import ActionDataSample
    cfg = frame_flexible_model(
        dict(
            type='Recognizer2D',
            backbone=dict(type='ResNet', depth=18, pretrained=None),
            cls_head=dict(
                type='TRNHead',
                num_classes=3,
                in_channels=512,
                num_segments=8,
                hidden_dim=8,
                dropout_ratio=0.0),
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCHW')),
        TINY_COUNTS)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    seen = []
    model.cls_head.consensus.register_forward_pre_hook(
        lambda module, args: seen.append((module.active, args[0].shape[1])))
    samples = [ActionDataSample() for _ in range(2)]
    for sample in samples:
        sample.set_gt_label(0)
        sample.set_metainfo(dict(clip_lens=TINY_COUNTS))
    losses = model.loss(torch.randn(2, 5, 3, 32, 32), samples)
    assert torch.isfinite(losses['loss_cls']) and 'loss_distill' in losses
    assert seen == [(2, 2), (3, 3)]
    model.eval()
    seen.clear()
    with torch.no_grad():
        samples = [ActionDataSample()]
        samples[0].set_metainfo(dict(num_clips=2, clip_len=1))
        model.predict(torch.randn(1, 2, 3, 32, 32), samples)
        model(torch.randn(1, 3, 3, 32, 32), mode='tensor', stage='head')
    assert seen == [(2, 2), (3, 3)]
    assert model.cls_head.num_segments == 3  # restored after each run
