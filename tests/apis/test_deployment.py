"""mmffn.apis.deployment, tools/deploy.py: one frame count as a stock MMAction2
model (TSM here).

The deployed config and checkpoint are loaded in a fresh interpreter that
never imports mmffn, and must reproduce the FFN model at that frame count.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from e2e_helpers import repo_tool
from mmaction.structures import ActionDataSample
from mmengine.config import Config
from shared_builders import TINY_SLOWFAST, TINY_X3D, recognizer_ffn_cfg
from torch.nn.modules.batchnorm import _BatchNorm

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import (build_ffn, deploy, deployed_config,
                        fold_branch_state_dict, stock_model)
from mmffn.models.layers import WeightAlteredConv

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SIZE = 32  # tiny frames: ResNet's stride 32 leaves a 1x1 map
NUM_CLASSES = 5
# Trained counts, and 6: not trained, served by branch 8 ('nearest').
FRAMES = (4, 8, 16, 6)
TOLERANCE = 1e-4

# A real FFN experiment config, shrunk: its pipelines, loaders and training
# parts all go through the conversion.
TINY_CONFIG = f"""
_base_ = [{osp.join(REPO, 'configs', 'ffn_tsm_r50_ssv2.py')!r}]
model = dict(
    backbone=dict(depth=18, pretrained=None),
    cls_head=dict(num_classes={NUM_CLASSES}, in_channels=512))
"""


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine values per branch, and large
    adapters, so that a wrong branch or a missed fold changes outputs."""
    generator = torch.Generator().manual_seed(seed)

    def rand(shape, low, high):
        return torch.rand(shape, generator=generator) * (high - low) + low

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                n = module.num_features
                module.weight.copy_(rand(n, 0.5, 1.5))
                module.bias.copy_(rand(n, -0.2, 0.2))
                module.running_mean.copy_(rand(n, -0.2, 0.2))
                module.running_var.copy_(rand(n, 0.5, 1.5))
            elif isinstance(module, torch.nn.LayerNorm):
                n = module.normalized_shape
                module.weight.copy_(rand(n, 0.5, 1.5))
                module.bias.copy_(rand(n, -0.2, 0.2))
            elif isinstance(module, WeightAlteredConv):
                for adapter in module.alteration.values():
                    adapter.weight.copy_(
                        torch.randn(adapter.weight.shape, generator=generator)
                        * 0.2)
        for fc in model.cls_head.modules():
            if isinstance(fc, torch.nn.Linear):
                fc.weight.copy_(
                    torch.randn(fc.weight.shape, generator=generator))
                if fc.bias is not None:
                    fc.bias.copy_(
                        torch.randn(fc.bias.shape, generator=generator))


@pytest.fixture(scope='module')
def ffn_files(tmp_path_factory):
    """(config path, checkpoint path, FFN model) of a tiny trained-looking
    FFN."""
    root = tmp_path_factory.mktemp('ffn')
    config = root / 'tiny_ffn.py'
    config.write_text(TINY_CONFIG)
    model = build_ffn(Config.fromfile(str(config)))
    _randomise(model)
    checkpoint = root / 'tiny_ffn.pth'
    meta = dict(
        epoch=3, dataset_meta=dict(classes=['a', 'b']),
        not_plain=np.zeros(2))  # dropped: needs a numpy global
    torch.save({'state_dict': model.state_dict(), 'meta': meta}, checkpoint)
    return str(config), str(checkpoint), model.eval()


def _raw_clips(frames: int, seed: int) -> list:
    generator = torch.Generator().manual_seed(seed)
    return [
        torch.randint(
            0,
            256, (frames, 3, SIZE, SIZE),
            generator=generator,
            dtype=torch.uint8) for _ in range(2)
    ]


def _samples(frames: int) -> list:
    samples = []
    for _ in range(2):
        sample = ActionDataSample()
        sample.set_metainfo(dict(num_clips=frames, clip_len=1))
        samples.append(sample)
    return samples


# What stock MMAction2 needs from the stack without mmffn: mmaction2
# 1.2.0's wheel lacks models/localizers/drn (mmaction2#2714; a source install
# has it), and `import mmaction.models` fails without it.
DRN_STUB = textwrap.dedent("""
    import importlib.util, json, os, sys, types
    root = importlib.util.find_spec('mmaction').submodule_search_locations[0]
    if not os.path.isdir(os.path.join(root, 'models', 'localizers', 'drn')):
        stub = types.ModuleType('mmaction.models.localizers.drn')
        stub.__path__, stub.drn = [], types.ModuleType(stub.__name__ + '.drn')
        stub.drn.DRN = type('DRN', (), {})
        sys.modules.update({stub.__name__: stub, stub.drn.__name__: stub.drn})
""")

STOCK_LOADER = DRN_STUB + textwrap.dedent("""
    import torch
    import mmaction.models  # noqa: F401  (registers the stock modules)
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    expected = torch.load(sys.argv[1], weights_only=False)
    report = {}
    for frames, case in expected.items():
        cfg = Config.fromfile(case['config'])
        assert 'custom_imports' not in cfg, cfg.get('custom_imports')
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        model = MODELS.build(cfg.model)
        # What tools/test.py does: weights_only loading, strict keys.
        torch.load(case['checkpoint'], weights_only=True)
        load_checkpoint(model, case['checkpoint'], map_location='cpu',
                        strict=True)
        model.eval()
        with torch.no_grad():
            logits = model(case['inputs'], mode='tensor', stage='head')
            results = model.test_step(dict(inputs=case['raw'],
                                           data_samples=case['samples']))
        scores = torch.stack([r.pred_score for r in results])
        report[frames] = dict(
            logits=(logits - case['logits']).abs().max().item(),
            scores=(scores - case['scores']).abs().max().item(),
            num_segments=model.backbone.num_segments,
            types=[type(model).__name__, type(model.backbone).__name__,
                   type(model.cls_head).__name__])
    assert 'mmffn' not in sys.modules, 'the stock model imported mmffn'
    print(json.dumps(report))
""")


def test_deployed_model_loads_without_mmffn_and_matches_ffn(
        ffn_files, tmp_path):
    config, checkpoint, model = ffn_files
    expected = {}
    for index, frames in enumerate(FRAMES):
        result = deploy(config, checkpoint, frames, str(tmp_path / 'out'))
        assert result.branch == model.backbone.branch_for(frames)
        assert result.max_abs_diff < TOLERANCE
        inputs = torch.randn(
            2,
            frames,
            3,
            SIZE,
            SIZE,
            generator=torch.Generator().manual_seed(index))
        raw, samples = _raw_clips(frames, index), _samples(frames)
        with torch.no_grad():
            logits = model(inputs, mode='tensor', stage='head')
            results = model.test_step(dict(inputs=raw, data_samples=samples))
        expected[frames] = dict(
            config=result.config,
            checkpoint=result.checkpoint,
            inputs=inputs,
            logits=logits,
            raw=raw,
            samples=_samples(frames),
            scores=torch.stack([r.pred_score for r in results]))
    cases = tmp_path / 'cases.pth'
    torch.save(expected, cases)
    script = tmp_path / 'load_stock.py'
    script.write_text(STOCK_LOADER)
    proc = subprocess.run(
        [sys.executable, str(script), str(cases)],
        capture_output=True,
        text=True,
        cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    for frames in FRAMES:
        case = report[str(frames)]
        assert case['types'] == ['Recognizer2D', 'ResNetTSM', 'TSMHead']
        assert case['num_segments'] == frames
        assert case['logits'] < TOLERANCE, (frames, case)
        assert case['scores'] < TOLERANCE, (frames, case)


def test_folding_is_exercised(ffn_files):
    """Adapters of 0.2 change the conv weights; branches differ."""
    _, _, model = ffn_files
    folded = {T: fold_branch_state_dict(model, T) for T in (4, 8, 16)}
    key = 'backbone.layer1.0.conv1.conv.net.weight'
    shared = model.state_dict()[key]
    assert not torch.allclose(folded[8][key], shared, atol=1e-3)
    assert not torch.allclose(folded[4][key], folded[8][key], atol=1e-3)
    bn = 'backbone.layer1.0.conv1.bn.running_mean'
    assert torch.equal(
        folded[4][bn],
        model.state_dict()['backbone.layer1.0.conv1.bn.branches.4.'
                           'running_mean'])
    assert not any('branches' in k or 'alteration' in k for k in folded[4])
    # An untrained count takes the nearest branch, ties to the higher one.
    assert torch.equal(fold_branch_state_dict(model, 6)[bn], folded[8][bn])
    assert torch.equal(fold_branch_state_dict(model, 12)[bn], folded[16][bn])


def test_deployed_config_is_stock_and_at_t(ffn_files, tmp_path):
    config, checkpoint, _ = ffn_files
    result = deploy(config, checkpoint, 6, str(tmp_path), verify=False)
    assert osp.basename(result.config) == 'tiny_ffn_6f.py'
    cfg = Config.fromfile(result.config)
    assert 'custom_imports' not in cfg
    assert 'train_dataloader' not in cfg and 'optim_wrapper' not in cfg
    assert cfg.model.type == 'Recognizer2D'
    backbone = cfg.model.backbone
    assert backbone.type == 'ResNetTSM' and backbone.num_segments == 6
    assert backbone.pretrained is None and backbone.pretrained2d is False
    assert not set(backbone) & {
        'num_segments_list', 'branch_policy', 'weight_alteration',
        'alteration_init_std'
    }
    assert cfg.model.cls_head.num_segments == 6
    assert 'distill_loss' not in cfg.model
    source = Config.fromfile(config)
    assert cfg.model.data_preprocessor == source.model.data_preprocessor
    for loader in (cfg.test_dataloader, cfg.val_dataloader):
        assert '_delete_' not in loader
        samplers = [
            step for step in loader.dataset.pipeline
            if step.type == 'SampleFrames'
        ]
        assert len(samplers) == 1 and samplers[0].num_clips == 6
    code = [line for line in open(result.config)
            if not line.startswith('#')]  # the header names its origin
    assert not [line for line in code if 'mmffn' in line or 'FFN' in line]

    meta = torch.load(result.checkpoint, weights_only=True)['meta']
    assert meta['epoch'] == 3 and meta['dataset_meta'] == dict(
        classes=['a', 'b'])
    assert 'not_plain' not in meta
    assert meta['ffn_deploy'] == dict(
        frames=6,
        branch=8,
        num_segments_list=[4, 8, 16],
        source_checkpoint='tiny_ffn.pth')


def test_deployed_config_names_nothing_of_mmffn(ffn_files):
    """mmffn's hooks are dropped, UniqueDecordDecode becomes DecordDecode
    (same frames), and anything else of mmffn is refused, by path."""
    from mmffn.apis.deployment_config import _mmffn_names
    config, _, _ = ffn_files
    cfg = Config.fromfile(config)
    assert [h.type for h in cfg.custom_hooks] == ['EpochSeedHook']
    cfg.custom_hooks.append(dict(type='SyncBuffersHook'))
    decode = [
        step for step in cfg.val_dataloader.dataset.pipeline
        if step.type == 'DecordDecode'
    ]
    decode[0].type = 'UniqueDecordDecode'
    deployed = deployed_config(cfg, 8)
    assert deployed.custom_hooks == [dict(type='SyncBuffersHook')]
    assert [step.type for step in deployed.val_dataloader.dataset.pipeline
            ].count('DecordDecode') == 1
    text = deployed.pretty_text
    names = _mmffn_names()
    assert {
        'EpochSeedHook', 'FFNOptimWrapperConstructor', 'RecognizerFFN',
        'ResNetTSM_FFN', 'UniqueDecordDecode'
    } <= names
    assert [name for name in names if name in text] == []
    assert 'mmffn' not in text

    cfg.default_hooks.seed = dict(type='EpochSeedHook')
    cfg.model_wrapper_cfg = dict(type='mmffn.engine.SomeWrapper')
    with pytest.raises(
            ValueError,
            match=r"still need mmffn.*: cfg\.default_hooks\.seed\.type = "
            r"'EpochSeedHook', cfg\.model_wrapper_cfg\.type = "
            r"'mmffn\.engine\.SomeWrapper'\. Replace these"):
        deployed_config(cfg, 8)


# MMAction2's own tools/test.py, in a process where mmffn cannot be imported.
STOCK_TEST_TOOL = DRN_STUB + textwrap.dedent("""
    import runpy
    try:
        import mmffn  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit('mmffn was importable in the stock process')
    tool = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(tool, run_name='__main__')
    assert 'mmffn' not in sys.modules, 'the stock test run imported mmffn'
""")


@pytest.mark.slow
def test_stock_test_tool_runs_the_deployed_config_without_mmffn(
        tiny_video_root, tmp_path):
    """The FFN demo config (with EpochSeedHook) deployed at 4 frames gives,
    through MMAction2's own tools/test.py without mmffn, the accuracy and
    scores of FFN at 4 frames through mmffn's tools/test.py."""
    from e2e_helpers import FFN_DEMO, TINY_CLASSES, TOP1, run_tool
    from mmengine.fileio import load

    from mmffn.utils import upstream_tool_path
    cfg = Config.fromfile(FFN_DEMO)
    assert [h.type for h in cfg.custom_hooks] == ['EpochSeedHook']
    cfg.model.cls_head.num_classes = len(TINY_CLASSES)
    for split, ann in (('train', 'train.txt'), ('val', 'val.txt'),
                       ('test', 'val.txt')):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.ann_file = osp.join(tiny_video_root, ann)
        loader.dataset.data_prefix.video = tiny_video_root
    config = str(tmp_path / 'ffn_tiny.py')
    cfg.dump(config)
    model = build_ffn(Config.fromfile(config))
    _randomise(model)
    with torch.no_grad():  # scores away from 0 and 1, so that they differ
        model.cls_head.fc_cls.weight.mul_(0.05)
        model.cls_head.fc_cls.bias.zero_()
    checkpoint = str(tmp_path / 'ffn_tiny.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)

    ffn = run_tool([
        sys.executable, 'tools/test.py', config, checkpoint, '--work-dir',
        str(tmp_path / 'ffn_test'), '--dump',
        str(tmp_path / 'ffn.pkl'), '--cfg-options',
        'test_dataloader.dataset.pipeline.1.num_clips=4'
    ])
    result = deploy(config, checkpoint, 4, str(tmp_path / 'deployed'))

    blocker = tmp_path / 'no_mmffn'
    (blocker / 'mmffn').mkdir(parents=True)
    (blocker / 'mmffn' / '__init__.py'
     ).write_text("raise ImportError('mmffn is not installed here')\n")
    script = tmp_path / 'stock_test.py'
    script.write_text(STOCK_TEST_TOOL)
    elsewhere = tmp_path / 'elsewhere'  # cwd outside the repository
    elsewhere.mkdir()
    stock = subprocess.run([
        sys.executable,
        str(script),
        upstream_tool_path('test.py'), result.config, result.checkpoint,
        '--work-dir',
        str(tmp_path / 'stock_test'), '--dump',
        str(tmp_path / 'stock.pkl')
    ],
                           cwd=str(elsewhere),
                           env=dict(
                               os.environ,
                               PYTHONPATH=str(blocker),
                               OMP_NUM_THREADS='1'),
                           capture_output=True,
                           text=True,
                           timeout=600)
    assert stock.returncode == 0, stock.stderr[-4000:]
    ffn_top1 = TOP1.findall(ffn.stdout + ffn.stderr)
    stock_top1 = TOP1.findall(stock.stdout + stock.stderr)
    assert len(ffn_top1) == 1 and stock_top1 == ffn_top1
    ffn_scores = torch.stack(
        [p['pred_score'] for p in load(str(tmp_path / 'ffn.pkl'))])
    stock_scores = torch.stack(
        [p['pred_score'] for p in load(str(tmp_path / 'stock.pkl'))])
    assert ffn_scores.shape == stock_scores.shape == (8, len(TINY_CLASSES))
    assert (ffn_scores - stock_scores).abs().max().item() < TOLERANCE
    # Not a constant model: the comparison sees differing predictions.
    assert ffn_scores.std(0).max().item() > 1e-2


def test_command_line(ffn_files, tmp_path, capsys):
    config, checkpoint, _ = ffn_files
    tool = repo_tool('deploy')
    assert tool.main(
        [config, checkpoint, '--frames', '8', '--out-dir',
         str(tmp_path)]) == 0
    assert 'branch 8' in capsys.readouterr().out
    assert osp.isfile(tmp_path / 'tiny_ffn_8f.pth')
    with pytest.raises(SystemExit):
        tool.main(
            [config, checkpoint, '--frames', '0', '--out-dir',
             str(tmp_path)])
    assert '--frames must be a positive int, got 0' in capsys.readouterr().err


def test_bad_arguments(ffn_files, tmp_path):
    config, checkpoint, model = ffn_files
    for bad in (0, -4, 2.5, True, '8'):
        with pytest.raises(ValueError, match='frames must be a positive int'):
            fold_branch_state_dict(model, bad)
    with pytest.raises(ValueError, match='Expected an FFN model config'):
        stock_model(
            dict(type='Recognizer2D', backbone=dict(type='ResNetTSM')), 8)
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        deploy(config, str(tmp_path / 'missing.pth'), 8, str(tmp_path))
    model.backbone.branch_policy = 'strict'
    try:
        with pytest.raises(ValueError, match='6 frames were not trained'):
            fold_branch_state_dict(model, 6)
    finally:
        model.backbone.branch_policy = 'nearest'
    with pytest.raises(ValueError, match='frames must be a positive int'):
        deployed_config(Config.fromfile(config), 0)


FAMILY_MODELS = {
    'MobileNetV2TSM_FFN': (dict(type='MobileNetV2TSM_FFN',
                                pretrained2d=False), 1280, (4, 6, 8)),
    'TANet_FFN': (dict(type='TANet_FFN', depth=50), 2048, (4, 8)),
}


@pytest.mark.parametrize('family', list(FAMILY_MODELS))
def test_every_family_deploys_to_its_stock_model(family):
    """One count of each frame-flexible backbone as its stock MMAction2
    model: no mmffn module left, same outputs (any count where the weights
    allow it; TANet's TAM is shaped by the count)."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    from mmffn.apis import build_deployed, compare_outputs
    backbone, channels, frames_list = FAMILY_MODELS[family]
    cfg = recognizer_ffn_cfg(
        dict(backbone, num_segments_list=(4, 8)), channels, NUM_CLASSES)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    _randomise(model)
    model.eval()
    for frames in frames_list:
        deployed = build_deployed(model, cfg, frames)
        assert not [
            type(m).__name__ for m in deployed.modules()
            if type(m).__module__.startswith('mmffn')
        ]
        assert type(deployed.backbone).__name__ == family[:-len('_FFN')]
        outputs = compare_outputs(model, deployed, frames, size=SIZE)
        assert outputs['max_abs_diff'] <= TOLERANCE * max(
            1.0, outputs['max_abs_output']), (frames, outputs)
    if family == 'TANet_FFN':
        with pytest.raises(ValueError, match='only a trained count'):
            build_deployed(model, cfg, 6)


TINY_3D = {
    'ResNet3dSlowFast':
    TINY_SLOWFAST,
    'X3D':
    TINY_X3D,
    'ResNet3dSlowOnly':
    dict(
        TINY_X3D,
        backbone=dict(
            type='ResNet3dSlowOnly',
            depth=18,
            base_channels=8,
            pretrained=None),
        cls_head=dict(type='I3DHead', in_channels=64, num_classes=3)),
    'UniFormer':
    dict(
        TINY_X3D,
        backbone=dict(
            type='UniFormer',
            depth=[1, 1, 1, 1],
            embed_dim=[16, 16, 32, 32],
            head_dim=16,
            img_size=32,
            pretrained2d=False),
        cls_head=dict(type='I3DHead', in_channels=32, num_classes=3)),
    'TimeSformer':
    dict(
        TINY_X3D,
        backbone=dict(
            type='TimeSformer',
            num_frames=4,
            img_size=32,
            patch_size=16,
            embed_dims=32,
            num_heads=2,
            num_transformer_layers=2,
            pretrained=None),
        cls_head=dict(type='TimeSformerHead', in_channels=32, num_classes=3)),
}


@pytest.mark.parametrize('family', list(TINY_3D))
def test_every_3d_family_deploys_to_recognizer3d(family):
    """One count of each 3D backbone as the stock Recognizer3D: no mmffn
    module left (adapters folded into nn.Conv3d), same outputs at trained
    (2, 4) and untrained (3) counts (TimeSformer, whose time embedding is
    shaped by the count, only at trained ones)."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    from mmffn.apis import (build_deployed, compare_outputs,
                            frame_flexible_model)
    cfg = frame_flexible_model(TINY_3D[family], (2, 4))
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    _randomise(model)
    model.eval()
    any_count = family != 'TimeSformer'
    if not any_count:
        with pytest.raises(ValueError, match='only a trained count'):
            build_deployed(model, cfg, 3)
    for frames in (2, 3, 4) if any_count else (2, 4):
        deployed = build_deployed(model, cfg, frames)
        assert type(deployed).__name__ == 'Recognizer3D'
        assert type(deployed.backbone).__name__ == family
        assert not [
            type(m).__name__ for m in deployed.modules()
            if type(m).__module__.startswith('mmffn')
        ]
        outputs = compare_outputs(model, deployed, frames, size=SIZE)
        assert outputs['max_abs_diff'] <= TOLERANCE * max(
            1.0, outputs['max_abs_output']), (frames, outputs)
    # The function changes with the branch: the comparison can fail.
    if any_count:
        two = compare_outputs(
            model, build_deployed(model, cfg, 2), 4, size=SIZE)
        assert two['max_abs_diff'] > 1e-3


def test_3d_deployed_config_reads_clips_of_the_count():
    """SlowFast at 6 slow frames: its test pipeline draws 6 * resample_rate
    frames; the model is the stock Recognizer3D."""
    test_pipeline = [
        dict(type='DecordInit'),
        dict(
            type='SampleFrames',
            clip_len=32,
            frame_interval=2,
            num_clips=10,
            test_mode=True),
        dict(type='DecordDecode'),
        dict(type='FormatShape', input_format='NCTHW'),
        dict(type='PackActionInputs')
    ]
    from mmffn.apis import frame_flexible_model
    cfg = Config(
        dict(
            model=frame_flexible_model(TINY_SLOWFAST, (4, 8, 16)),
            test_dataloader=dict(
                batch_size=1,
                dataset=dict(type='VideoDataset', pipeline=test_pipeline)),
            custom_imports=dict(imports=['mmffn'])))
    deployed = deployed_config(cfg, 6, frames_per_count=4)
    assert deployed.model.type == 'Recognizer3D'
    assert deployed.model.backbone.type == 'ResNet3dSlowFast'
    sampler = deployed.test_dataloader.dataset.pipeline[1]
    assert sampler['clip_len'] == 24 and sampler['num_clips'] == 10
    assert 'custom_imports' not in deployed


@pytest.mark.parametrize('img_size', [32, 48])
def test_verification_feeds_the_size_a_timesformer_was_built_for(img_size):
    """deploy() verifies with compare_outputs' default clip: a TimeSformer
    (fixed patch grid) gets its own img_size, not 64 px."""
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope

    from mmffn.apis import (build_deployed, compare_outputs,
                            frame_flexible_model)
    stock = dict(TINY_3D['TimeSformer'])
    stock['backbone'] = dict(stock['backbone'], img_size=img_size)
    cfg = frame_flexible_model(stock, (4, 8, 16))
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    _randomise(model)
    model.eval()
    for frames in (4, 8, 16):
        outputs = compare_outputs(model, build_deployed(model, cfg, frames),
                                  frames)
        assert outputs['max_abs_diff'] <= TOLERANCE * max(
            1.0, outputs['max_abs_output']), (frames, outputs)
