"""What the shipped configs really do, checked after MMEngine merges them."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

import mmffn  # noqa: F401
from mmffn.apis import (fixed_frames_loader, fixed_frames_pipeline,
                        multi_rate_pipeline)
from mmffn.models.families import FAMILIES, input_frames_per_count
from tests.e2e_helpers import repo_tool

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
FFN_CONFIGS = sorted(
    p for p in glob.glob(
        osp.join(REPO, 'configs', '**', '*.py'), recursive=True)
    if osp.join('configs', '_base_') not in p
    and osp.join('configs', 'demo') not in p
    # The vanilla baselines of configs/ablations/ are stock TSMs.
    and not osp.basename(p).startswith('tsm_'))

SAMPLERS = ('SampleFrames', 'MultiRateSampleFrames', 'UniformSample',
            'MultiRateSampleFrames3D')


def sampler(pipeline):
    steps = [s for s in pipeline if s['type'] in SAMPLERS]
    assert len(steps) == 1
    return steps[0]


def pack_meta(pipeline):
    return [s for s in pipeline
            if s['type'] == 'PackActionInputs'][0]['meta_keys']


def is_conversion(path):
    return osp.basename(osp.dirname(path)) == 'convert' or osp.basename(
        path).startswith('ffn_convert')


@pytest.mark.parametrize(
    'path', [p for p in FFN_CONFIGS if is_conversion(p)] +
    glob.glob(osp.join(REPO, 'configs', 'demo', 'ffn_convert_*.py')))
def test_conversion_configs_train_no_label_and_keep_the_teacher(path):
    cfg = Config.fromfile(path)
    assert cfg.model.supervision == 'none'
    assert cfg.model.stock_checkpoint
    assert not {'teacher', 'shared'} & set(cfg.model.trainable)
    assert cfg.model.backbone.get('pretrained') is None
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'UnlabeledVideoDataset'
    assert not any('flip_label_map' in step for step in dataset.pipeline)
    assert cfg.train_cfg.type == 'IterBasedTrainLoop'
    assert cfg.train_dataloader.sampler.type == 'InfiniteSampler'
    assert cfg.default_hooks.checkpoint.by_epoch is False


@pytest.mark.parametrize(
    'path', FFN_CONFIGS, ids=[osp.relpath(p, REPO) for p in FFN_CONFIGS])
def test_ffn_config_is_consistent(path):
    cfg = Config.fromfile(path)
    counts = tuple(cfg.model.backbone.num_segments_list)
    family = {f.ffn_type: f
              for f in FAMILIES.values()}[cfg.model.backbone.type]
    assert 'mmffn' in cfg.custom_imports.imports
    train = cfg.train_dataloader.dataset.pipeline
    assert 'clip_lens' in pack_meta(train)
    if family.recognizer == 'Recognizer2D':
        assert cfg.model.type == 'RecognizerFFN'
        # TSNHead's consensus takes any count: it has no num_segments.
        assert cfg.model.cls_head.get('num_segments', counts[-1]) == counts[-1]
        assert cfg.optim_wrapper.constructor == 'FFNOptimWrapperConstructor'
        assert sampler(train)['type'] == 'MultiRateSampleFrames'
        assert tuple(sampler(train)['num_clips_list']) == counts
        test_sampler, test_frames = 'SampleFrames', 'num_clips'
        per_count = 1
    else:
        assert cfg.model.type == 'RecognizerFFN3D'
        per_count = cfg.model.backbone.get('resample_rate', 1)
        assert sampler(train)['type'] == 'MultiRateSampleFrames3D'
        assert tuple(sampler(train)['clip_len_list']) == tuple(c * per_count
                                                               for c in counts)
        # Tested as trained: the same manner of sampling.
        test_sampler = 'UniformSample' if sampler(
            train)['mode'] == 'uniform' else 'SampleFrames'
        test_frames = 'clip_len'
    # A conversion validates the count it improves, the lowest.
    val_count = counts[0] if is_conversion(path) else counts[-1]
    loaders = [(cfg.val_dataloader, val_count)]
    if osp.basename(osp.dirname(path)) == 'cascade':
        check_cascade_test(cfg, counts)
    else:
        loaders.append((cfg.test_dataloader, counts[-1]))
    for loader, count in loaders:
        assert 'pipeline' not in loader  # must sit on the dataset
        pipeline = loader.dataset.pipeline
        assert sampler(pipeline)['type'] == test_sampler
        assert sampler(pipeline)[test_frames] == count * per_count
        assert sampler(pipeline)['test_mode'] is True
        assert {'num_clips', 'clip_len'} <= set(pack_meta(pipeline))


def check_cascade_test(cfg, counts):
    """configs/cascade/: every count's clip per view, one decode, and the
    cascade's metric beside the accuracy."""
    cascade = cfg.model.test_cfg.cascade
    assert set(cascade.counts) <= set(counts)
    assert len(cascade.thresholds) == len(cascade.counts) - 1
    assert cfg.model.cls_head.average_clips in ('prob', 'score')
    pipeline = cfg.test_dataloader.dataset.pipeline
    assert sampler(pipeline)['type'] == 'MultiRateSampleFrames'
    assert tuple(sampler(pipeline)['num_clips_list']) == tuple(cascade.counts)
    assert sampler(pipeline)['test_mode'] is True
    assert 'clip_lens' in pack_meta(pipeline)
    assert [m['type']
            for m in cfg.test_evaluator] == ['AccMetric', 'CascadeMetric']


def test_ssv2_recipe_matches_the_paper():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ffn_tsm_r50_ssv2.py'))
    assert tuple(cfg.model.backbone.num_segments_list) == (4, 8, 16)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.01,
                                                                  0.9, 5e-4)
    assert cfg.optim_wrapper.paramwise_cfg.fc_lr5 is True
    assert cfg.auto_scale_lr.base_batch_size == 32
    assert cfg.train_cfg.max_epochs == 50
    assert cfg.param_scheduler[0].milestones == [20, 40]
    assert cfg.model.cls_head.dropout_ratio == 0.5
    assert cfg.model.cls_head.num_classes == 174
    # No flip for Something-Something: labels depend on direction.
    assert not any(s['type'] == 'Flip'
                   for s in cfg.train_dataloader.dataset.pipeline)


def test_k400_recipe_flips_and_uses_smaller_weight_decay():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'ffn_tsm_r50_k400.py'))
    assert cfg.optim_wrapper.optimizer.weight_decay == 1e-4
    assert cfg.model.cls_head.num_classes == 400
    assert any(s['type'] == 'Flip'
               for s in cfg.train_dataloader.dataset.pipeline)


def test_mixin_config_is_short_and_keeps_the_inherited_recipe():
    path = osp.join(REPO, 'configs', 'mixins',
                    'ffn_from_tsm_r50_1x1x8_sthv2.py')
    with open(path) as f:  # the README shows it whole
        assert len(f.read().splitlines()) <= 15
    cfg = Config.fromfile(path)
    assert cfg.model.type == 'RecognizerFFN'
    assert cfg.model.backbone.type == 'ResNetTSM_FFN'
    assert cfg.model.backbone.num_segments_list == (4, 8, 16)
    assert cfg.model.backbone.pretrained == 'checkpoints/resnet50-0676ba61.pth'
    assert cfg.model.cls_head.num_segments == 16
    # Inherited from MMAction2's recipe, untouched by the mixin:
    assert cfg.model.cls_head.num_classes == 174
    assert cfg.model.backbone.depth == 50
    assert cfg.optim_wrapper.optimizer.lr == 0.02
    flip = [
        s for s in cfg.train_dataloader.dataset.pipeline if s['type'] == 'Flip'
    ]
    assert flip and flip[0]['flip_label_map'][86] == 87
    test = cfg.test_dataloader.dataset.pipeline
    assert sampler(test).get('twice_sample') is True
    assert any(s['type'] == 'ThreeCrop' for s in test)


UPSTREAM_1X1X16 = ('recognition/tsm/'
                   'tsm_imagenet-pretrained-r50_8xb16-1x1x16-50e_sthv2-rgb.py')


def test_mixing_into_the_1x1x16_recipe_fixes_its_misplaced_test_pipeline(
        tmp_path):
    """MMAction2's 1x1x16 SSv2 TSM config puts its test pipeline on the
    dataloader; its dataset would still sample 8 frames."""
    path = tmp_path / 'mix16.py'
    path.write_text(
        f"_base_ = 'mmaction::{UPSTREAM_1X1X16}'\n"
        'from mmffn.apis import fixed_frames_loader\n'
        "custom_imports = dict(imports=['mmffn'])\n"
        'test_dataloader = fixed_frames_loader(_base_.test_dataloader, 16)\n')
    cfg = Config.fromfile(str(path))
    assert 'pipeline' not in cfg.test_dataloader
    assert cfg.test_dataloader.dataset.test_mode is True
    s = sampler(cfg.test_dataloader.dataset.pipeline)
    assert s['num_clips'] == 16 and s.get('twice_sample') is True


def test_upstream_1x1x16_test_loader_is_really_broken():
    """The trap the helper fixes; this fails once upstream is fixed, and
    the workaround can go."""
    import mmaction
    cfg = Config.fromfile(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs',
            UPSTREAM_1X1X16))
    assert 'pipeline' in cfg.test_dataloader
    assert sampler(cfg.test_dataloader.dataset.pipeline)['num_clips'] == 8


STOCK = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8),
    dict(type='DecordDecode'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs'),
]


def test_multi_rate_pipeline_swaps_only_sampler_decoder_and_meta():
    out = multi_rate_pipeline(STOCK, (4, 8, 16))
    assert [s['type'] for s in out] == [
        'DecordInit', 'MultiRateSampleFrames', 'UniqueDecordDecode', 'Flip',
        'FormatShape', 'PackActionInputs'
    ]
    assert out[1] == dict(
        type='MultiRateSampleFrames',
        clip_len=1,
        frame_interval=1,
        num_clips_list=(4, 8, 16))
    assert 'clip_lens' in out[-1]['meta_keys']
    assert STOCK[1]['type'] == 'SampleFrames'  # input untouched


def test_fixed_frames_pipeline_sets_count_and_meta():
    out = fixed_frames_pipeline(STOCK, 6)
    assert out[1]['num_clips'] == 6
    assert {'num_clips', 'clip_len'} <= set(out[-1]['meta_keys'])
    with pytest.raises(ValueError, match='positive'):
        fixed_frames_pipeline(STOCK, 0)


def test_fixed_frames_errors_name_frames():
    """The test-time frame count is ``frames`` (``num_clips`` is a key of
    the sampler, views for a 3D one), and its errors say so."""
    with pytest.raises(ValueError, match='^frames must be a positive int'):
        fixed_frames_pipeline(STOCK, frames=0)
    loader = dict(dataset=dict(pipeline=STOCK))
    with pytest.raises(ValueError, match='^frames must be a positive int'):
        fixed_frames_loader(loader, frames=-1)
    converted = fixed_frames_loader(loader, frames=6)['dataset']['pipeline']
    assert sampler(converted)['num_clips'] == 6


def test_pipeline_config_errors_name_the_problem():
    with pytest.raises(ValueError, match='exactly one sampler'):
        multi_rate_pipeline(STOCK[:1] + STOCK[2:], (4, 8))
    with pytest.raises(ValueError, match='clip_len=1'):
        multi_rate_pipeline(
            [dict(type='SampleFrames', clip_len=8, num_clips=1)] + STOCK[2:],
            (4, 8))


@pytest.mark.parametrize('name', [
    'tsm_r18_16f_demo', 'ffn_tsm_r18_demo', 'tsm_mobilenetv2_16f_demo',
    'ffn_mobilenetv2_demo', 'tanet_r50_16f_demo', 'ffn_tanet_r50_demo',
    'x3d_16f_demo', 'ffn_x3d_demo', 'uniformer_16f_demo', 'ffn_uniformer_demo',
    'slowfast_16f_demo', 'ffn_slowfast_demo', 'uniformerv2_16f_demo',
    'ffn_uniformerv2_demo'
])
def test_demo_models_build_and_pair_up(name):
    """Each demo pair: the same backbone family, the FFN one frame
    flexible at (4, 8, 16), the vanilla one at 16 frames."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'demo', name + '.py'))
    init_default_scope('mmaction')
    model = MODELS.build(cfg.model)
    if name.startswith('ffn_'):
        assert model.backbone.num_segments_list == (4, 8, 16)
        stock = {f.ffn_type: s for s, f in FAMILIES.items()}
        assert type(model.backbone).__name__ in stock
    else:
        if type(model).__name__ == 'Recognizer2D':
            assert model.backbone.num_segments == 16
        else:  # a 3D model takes the clip's length
            assert type(model).__name__ == 'Recognizer3D'
            assert cfg.train_dataloader.dataset.pipeline[1][
                'clip_len'] == 16 * input_frames_per_count(cfg.model)


def _demo_tool():
    """tools/demo.py as a module (its MODELS: the pairs it trains)."""
    return repo_tool('demo')


def test_demo_pairs_differ_only_in_ffn_parts():
    """Each pair of tools/demo.py trains with the same schedule, optimizer,
    data and test pipeline; the training pipelines differ only in the
    sampler, the decoder and the packed meta keys."""
    demo = _demo_tool()
    ffn_only = ('MultiRateSampleFrames', 'MultiRateSampleFrames3D',
                'SampleFrames', 'UniformSample', 'DecordDecode',
                'UniqueDecordDecode', 'PackActionInputs')
    for pair in demo.MODELS.values():
        vanilla, ffn = (Config.fromfile(
            osp.join(REPO, 'configs', 'demo', name + '.py'))
                        for _, name, _ in pair)
        for key in ('optim_wrapper', 'param_scheduler', 'train_cfg',
                    'val_dataloader', 'test_dataloader', 'data_root'):
            assert vanilla[key] == ffn[key], (pair[1][1], key)
        steps = [[
            s for s in cfg.train_dataloader.dataset.pipeline
            if s['type'] not in ffn_only
        ] for cfg in (vanilla, ffn)]
        assert steps[0] == steps[1], pair[1][1]
        heads = [dict(cfg.model.cls_head) for cfg in (vanilla, ffn)]
        for head in heads:  # both pool over 16 frames when trained
            assert head.pop('num_segments', 16) == 16
        assert heads[0] == heads[1], pair[1][1]


# The loss each FFN of tools/demo.py trains with, as docs/backbones_demo.md
# reports it: the paper's ('highest': the head's cross-entropy on the highest
# count only), or the head's loss on every count where the paper's loss left
# the 16-frame branch below the vanilla model; KL distillation in all.
DEMO_SUPERVISION = dict(
    ffn_tsm_r18_demo='every',
    ffn_mobilenetv2_demo='highest',
    ffn_tanet_r50_demo='highest',
    ffn_x3d_demo='every',
    ffn_uniformer_demo='highest',
    ffn_slowfast_demo='every',
    ffn_uniformerv2_demo='every')


def test_demo_ffn_recipes_are_the_documented_ones():
    import inspect

    from mmaction.registry import MODELS
    demo = _demo_tool()
    assert sorted(pair[1][1]
                  for pair in demo.MODELS.values()) == sorted(DEMO_SUPERVISION)
    for name, supervision in DEMO_SUPERVISION.items():
        model = Config.fromfile(
            osp.join(REPO, 'configs', 'demo', name + '.py')).model
        recognizer = inspect.signature(MODELS.get(model.type)).parameters
        # A config that leaves an option out gets the recognizer's default.
        assert model.get(
            'supervision',
            recognizer['supervision'].default) == supervision, name
        distill = model.get('distill_loss', recognizer['distill_loss'].default)
        assert distill['type'] == 'TemporalKLLoss', name
        assert distill.get('loss_weight', 1.0) == 1.0, name


def _flat(cfg, prefix=''):
    """{dotted key: value} of a config's dicts (lists are values)."""
    out = {}
    for key, value in cfg.items():
        if isinstance(value, dict):
            out.update(_flat(value, f'{prefix}{key}.'))
        else:
            out[prefix + key] = value
    return out


def _changed(name, base):
    """The dotted keys whose values differ between two demo configs."""
    a, b = (
        _flat(
            Config.fromfile(osp.join(REPO, 'configs', 'demo',
                                     n + '.py')).to_dict())
        for n in (name, base))
    missing = object()
    return {
        k
        for k in a.keys() | b.keys() if a.get(k, missing) != b.get(k, missing)
    }


@pytest.mark.parametrize(
    'name, base, changed',
    [
        # The demo recipe adds the head's loss on 4 and 8 frames to the
        # paper's loss; the paper's ablations start from the paper's loss.
        ('ablations/ffn_tsm_r18_demo_paper_loss', 'ffn_tsm_r18_demo',
         {'model.supervision'}),
        ('ablations/ffn_tsm_r18_demo_no_specialised_norm',
         'ablations/ffn_tsm_r18_demo_paper_loss',
         {'model.backbone.rate_specific_norms'}),
        ('ablations/ffn_tsm_r18_demo_no_weight_alteration',
         'ablations/ffn_tsm_r18_demo_paper_loss',
         {'model.backbone.weight_alteration'}),
        ('ablations/ffn_tsm_r18_demo_4_8_12_16',
         'ablations/ffn_tsm_r18_demo_paper_loss', {
             'frame_counts', 'model.backbone.num_segments_list',
             'train_dataloader.dataset.pipeline'
         }),
        # Without distillation: the demo recipe less its distillation term.
        ('ablations/ffn_tsm_r18_demo_no_distillation', 'ffn_tsm_r18_demo', {
            'model.distill_loss', 'model.distill_loss.type',
            'model.distill_loss.loss_weight'
        }),
    ])
def test_demo_ablations_change_one_thing(name, base, changed):
    assert _changed(name, base) == changed
