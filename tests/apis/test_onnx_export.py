"""``deploy(..., onnx=True)`` and ``tools/deploy.py --onnx``: the deployed
stock model as an ONNX file whose class scores are PyTorch's at any batch
size, and which onnxruntime runs where neither mmffn nor MMAction2 (nor
torch) can be imported."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from e2e_helpers import repo_tool
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint
from shared_builders import TINY_SLOWFAST, TINY_X3D, randomise_norms

from mmffn.apis.deployment import deploy
from mmffn.apis.deployment_weights import build_ffn
from mmffn.apis.model_config import frame_flexible_model
from mmffn.apis.onnx_export import (INPUT_NAME, OUTPUT_NAME, _run_onnx,
                                    export_onnx, onnx_input_shape)

pytest.importorskip('onnxruntime')
pytestmark = pytest.mark.usefixtures('one_thread')

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ATOL = 1e-4
SIZE = 32  # the test pipeline's crop: the ONNX input is 32 x 32
COUNTS = (4, 8, 16)


def _tsn_style(backbone: dict, in_channels: int) -> dict:
    """A tiny stock Recognizer2D around ``backbone`` with a TSMHead."""
    return dict(
        type='Recognizer2D',
        backbone=dict(backbone, pretrained=None),
        cls_head=dict(
            type='TSMHead',
            num_classes=5,
            in_channels=in_channels,
            dropout_ratio=0.0,
            average_clips='prob'),
        data_preprocessor=dict(
            type='ActionDataPreprocessor', format_shape='NCHW'))


# Stock models (made frame-flexible at COUNTS) and the count deployed.
FAMILIES = {
    'tsm': (_tsn_style(dict(type='ResNetTSM', depth=18), 512), 8),
    'mobilenetv2_tsm': (_tsn_style(dict(type='MobileNetV2TSM'), 1280), 4),
    'x3d': (TINY_X3D, 8),
    'slowfast': (TINY_SLOWFAST, 4),  # 16 frames for the fast pathway
    'uniformer': (dict(
        TINY_X3D,
        backbone=dict(
            type='UniFormer',
            depth=[1, 1, 1, 1],
            embed_dim=[16, 16, 32, 32],
            head_dim=16,
            img_size=SIZE,
            pretrained2d=False),
        cls_head=dict(type='I3DHead', in_channels=32, num_classes=3)), 8),
}
# weights shaped by the count: only trained counts deploy (any_count=False)
TINY_TIMESFORMER = dict(
    TINY_X3D,
    backbone=dict(
        type='TimeSformer',
        num_frames=4,
        img_size=SIZE,
        patch_size=16,
        embed_dims=32,
        num_heads=2,
        num_transformer_layers=1,
        pretrained=None),
    cls_head=dict(type='TimeSformerHead', in_channels=32, num_classes=3))


def _test_pipeline(three_d: bool) -> list:
    """A test pipeline (what deployed_config converts to T frames) whose
    crop is the ONNX input size."""
    return [
        dict(type='DecordInit'),
        dict(
            type='SampleFrames',
            clip_len=8 if three_d else 1,
            frame_interval=1,
            num_clips=1 if three_d else 8,
            test_mode=True),
        dict(type='DecordDecode'),
        dict(type='Resize', scale=(-1, SIZE)),
        dict(type='CenterCrop', crop_size=SIZE),
        dict(type='FormatShape', input_format='NCTHW' if three_d else 'NCHW'),
        dict(type='PackActionInputs')
    ]


def _ffn_files(root, name: str, stock: dict, counts=COUNTS):
    """(config, checkpoint) of a tiny FFN of ``stock`` at ``counts`` with
    non-trivial norms and a classifier far from its init (std 0.01): class
    scores of order 1, against which ATOL means something."""
    model_cfg = frame_flexible_model(stock, counts)
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    randomise_norms(model)
    with torch.no_grad():
        for param in model.cls_head.parameters():
            param.normal_(generator=torch.Generator().manual_seed(1))
    config = osp.join(str(root), f'{name}.py')
    three_d = stock['type'] == 'Recognizer3D'
    Config(dict(model=model_cfg,
                test_pipeline=_test_pipeline(three_d))).dump(config)
    checkpoint = osp.join(str(root), f'{name}.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return config, checkpoint


# onnxruntime alone: mmffn, mmaction and torch made unimportable first.
STANDALONE = textwrap.dedent(f"""
    import sys
    for name in ('mmffn', 'mmaction', 'torch'):
        sys.modules[name] = None
    import numpy as np
    import onnxruntime as ort
    session = ort.InferenceSession(sys.argv[1],
                                   providers=['CPUExecutionProvider'])
    (scores, ) = session.run(['{OUTPUT_NAME}'],
                             {{'{INPUT_NAME}': np.load(sys.argv[2])}})
    np.save(sys.argv[3], scores)
    assert not {{'mmffn', 'mmaction', 'torch'}} & {{
        k for k, v in sys.modules.items() if v is not None}}
""")


def _run_standalone(onnx_file: str, inputs: torch.Tensor,
                    folder) -> np.ndarray:
    np.save(folder / 'inputs.npy', inputs.numpy())
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', )}
    result = subprocess.run([
        sys.executable, '-c', STANDALONE,
        osp.abspath(onnx_file),
        str(folder / 'inputs.npy'),
        str(folder / 'scores.npy')
    ],
                            cwd=str(folder),
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return np.load(folder / 'scores.npy')


@pytest.mark.parametrize('family', list(FAMILIES))
def test_deployed_onnx_matches_pytorch_at_another_batch_size(family, tmp_path):
    stock, frames = FAMILIES[family]
    config, checkpoint = _ffn_files(tmp_path, family, stock)
    result = deploy(
        config, checkpoint, frames, str(tmp_path / 'out'), onnx=True)
    assert result.onnx == str(tmp_path / 'out' / f'{family}_{frames}f.onnx')
    assert osp.isfile(result.onnx)
    assert result.onnx_max_abs_diff is not None
    # (deploy raised had it been above ATOL x max(1, largest |score|))
    # No temporary file left beside the deployment.
    assert sorted(os.listdir(tmp_path / 'out')) == sorted(
        osp.basename(p)
        for p in (result.config, result.checkpoint, result.onnx))

    # The stock model from the written files, on a fresh clip of batch 3
    # (the export used 1, deploy's check 2): the batch axis is dynamic.
    cfg = Config.fromfile(result.config)
    model = build_ffn(cfg, _load_checkpoint(result.checkpoint))
    shape = onnx_input_shape(model, cfg, frames)
    three_d = stock['type'] == 'Recognizer3D'
    expected_shape = (1, 1, 3, frames * (4 if family == 'slowfast' else 1),
                      SIZE, SIZE) if three_d else (1, frames, 3, SIZE, SIZE)
    assert shape == expected_shape
    clip = torch.randn(
        3, *shape[1:], generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = model(clip, mode='tensor', stage='head')
    actual = _run_onnx(result.onnx, clip)
    assert actual.shape == expected.shape == (3,
                                              stock['cls_head']['num_classes'])
    diff = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    # Scores far from 0 (the check means something), compared as deploy does.
    assert diff <= ATOL * max(1.0, scale) and scale > 1, (family, diff, scale)
    print(f'{family}: max |ONNX - PyTorch| = {diff:.3g} of scores up to '
          f'{scale:.3g} (deploy check {result.onnx_max_abs_diff:.3g})')

    standalone = _run_standalone(result.onnx, clip, tmp_path)
    np.testing.assert_allclose(standalone, actual.numpy(), rtol=0, atol=1e-6)


def _deploy_tool():
    return repo_tool('deploy')


def test_command_line_onnx_and_refusal_without_force(tmp_path, capsys):
    config, checkpoint = _ffn_files(tmp_path, 'tiny_x3d', TINY_X3D)
    out = tmp_path / 'out'
    tool = _deploy_tool()
    args = [config, checkpoint, '--frames', '4', '--out-dir', str(out)]
    assert tool.main(args + ['--onnx']) == 0
    printed = capsys.readouterr().out
    onnx_file = str(out / 'tiny_x3d_4f.onnx')
    assert f'onnx:       {onnx_file}' in printed
    assert 'max |ONNX - PyTorch| on a random clip: ' in printed
    assert 'within 0.0001 x max(1, largest |score|)' in printed

    # Only the .onnx left: it alone blocks a new ONNX deployment...
    os.remove(out / 'tiny_x3d_4f.py')
    os.remove(out / 'tiny_x3d_4f.pth')
    before = os.path.getmtime(onnx_file)
    with pytest.raises(FileExistsError) as info:
        deploy(config, checkpoint, 4, str(out), onnx=True)
    assert onnx_file in str(info.value) and 'force=True' in str(info.value)
    assert '_4f.py' not in str(info.value)
    assert sorted(os.listdir(out)) == ['tiny_x3d_4f.onnx']
    # ...and one without ONNX: it belongs to the deployment of that name.
    with pytest.raises(FileExistsError, match='tiny_x3d_4f.onnx'):
        deploy(config, checkpoint, 4, str(out), verify=False)
    result = deploy(config, checkpoint, 4, str(out), onnx=True, force=True)
    assert result.onnx == onnx_file and os.path.getmtime(onnx_file) >= before
    # Replaced without ONNX, the old ONNX file (of the old weights) goes,
    # with a warning.
    with pytest.warns(
            UserWarning, match='exported from the replaced '
            'deployment; removed'):
        assert deploy(
            config, checkpoint, 4, str(out), verify=False,
            force=True).onnx is None
    assert sorted(os.listdir(out)) == ['tiny_x3d_4f.pth', 'tiny_x3d_4f.py']

    # A check above its tolerance names both and leaves no file.
    strict = str(tmp_path / 'strict.onnx')
    with pytest.raises(
            RuntimeError,
            match=r'differs from PyTorch by .* more '
            r'than the allowed .*atol=1e-12'):
        export_onnx(result.config, result.checkpoint, strict, 4, atol=1e-12)
    assert not osp.exists(strict)


def test_untrainable_count_fails_before_export(tmp_path):
    """TimeSformer's time embedding is shaped by the count: an untrained
    count is refused (naming it) before anything is exported or written."""
    config, checkpoint = _ffn_files(
        tmp_path, 'tiny_timesformer', TINY_TIMESFORMER, counts=(4, 8))
    out = tmp_path / 'out'
    with pytest.raises(ValueError, match=r'got 6, trained \(4, 8\)'):
        _deploy_tool().main([
            config, checkpoint, '--frames', '6', '--out-dir',
            str(out), '--onnx'
        ])
    assert not out.exists() or os.listdir(out) == []


def test_missing_onnxruntime_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'onnxruntime', None)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[deploy\]"'):
        deploy(
            str(tmp_path / 'any.py'),
            __file__,  # a file: the check must come before any reading
            8,
            str(tmp_path),
            onnx=True)
