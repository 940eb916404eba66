"""tools/deploy.py (mmffn.apis.deploy) as a user meets it (issue 26):

* a deployed 3D demo config feeds MMAction2's ``inference_recognizer`` (and
  every other pipeline of the config) clips of the deployed count, whatever
  the sampler (item 4);
* an existing deployment is never replaced without ``--force``, and a kill
  while writing leaves the old files whole (item 7);
* a TPN checkpoint saved after a validation (``cls_head.new_cls.*``, added
  by TPNHead's first fcn_test forward) deploys; other stray keys still
  fail (item 11).

Everything goes through the command line (``tools/deploy.py``'s ``main``) and
MMAction2's own APIs.
"""
import logging
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from e2e_helpers import repo_tool
from mmaction.apis import inference_recognizer, init_recognizer
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.dataset import Compose
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from mmffn.apis import deploy

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEMO = osp.join(REPO, 'configs', 'demo')


def _deploy_tool():
    return repo_tool('deploy')


def _save_ffn(cfg: Config, path: str, seed: int = 0) -> torch.nn.Module:
    """Build the model of ``cfg`` (random weights) and save a checkpoint."""
    init_default_scope('mmaction')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return model.eval()


# --- item 4: the deployed 3D demo configs sample the deployed count -------
# (config, deployed count, frames the backbone reads: SlowFast's slow count
# times its resample_rate 2)
DEMOS_3D = [('ffn_x3d_demo', 5, 5), ('ffn_slowfast_demo', 3, 6),
            ('ffn_uniformer_demo', 5, 5)]


@pytest.mark.parametrize('name,frames,clip_len', DEMOS_3D)
def test_deployed_3d_demo_feeds_its_count_to_inference_recognizer(
        name, frames, clip_len, tmp_path, tiny_video_root, one_thread):
    """The demo's top-level test_pipeline (UniformSample) and both test
    loaders sample the deployed count; MMAction2's inference_recognizer,
    given only the deployed files, feeds the backbone that many frames."""
    config = osp.join(DEMO, name + '.py')
    checkpoint = str(tmp_path / 'ffn.pth')
    _save_ffn(Config.fromfile(config), checkpoint)
    out = tmp_path / 'deployed'
    assert _deploy_tool().main(
        [config, checkpoint, '--frames',
         str(frames), '--out-dir',
         str(out)]) == 0
    deployed = str(out / f'{name}_{frames}f.py')
    cfg = Config.fromfile(deployed)
    assert 'custom_imports' not in cfg
    video = osp.join(tiny_video_root, 'videos', 'val_00000.mp4')
    init_default_scope('mmaction')
    pipelines = dict(
        test_pipeline=cfg.test_pipeline,
        val_dataloader=cfg.val_dataloader.dataset.pipeline,
        test_dataloader=cfg.test_dataloader.dataset.pipeline)
    for where, pipeline in pipelines.items():
        packed = Compose(pipeline)(
            dict(filename=video, label=-1, start_index=0, modality='RGB'))
        # (views, C, T, H, W)
        assert packed['inputs'].shape[2] == clip_len, (where, pipeline)

    model = init_recognizer(
        deployed, str(out / f'{name}_{frames}f.pth'), device='cpu')
    assert type(model).__name__ == 'Recognizer3D'
    seen = []
    handle = model.backbone.register_forward_pre_hook(
        lambda module, args: seen.append(tuple(args[0].shape)))
    try:
        result = inference_recognizer(model, video)
    finally:
        handle.remove()
    assert seen and seen[0][2] == clip_len, seen
    assert result.pred_score.shape == (4, )


# --- item 7: an existing deployment is not replaced silently --------------
@pytest.fixture(scope='module')
def x3d_files(tmp_path_factory):
    """The X3D demo config and a checkpoint of it (tiny, quick to deploy)."""
    root = tmp_path_factory.mktemp('x3d')
    config = osp.join(DEMO, 'ffn_x3d_demo.py')
    checkpoint = str(root / 'ffn.pth')
    _save_ffn(Config.fromfile(config), checkpoint)
    return config, checkpoint


def _files(folder) -> dict:
    return {
        name: open(osp.join(folder, name), 'rb').read()
        for name in sorted(os.listdir(folder))
    }


def test_deploy_refuses_to_replace_a_deployment_without_force(
        x3d_files, tmp_path, capsys):
    config, checkpoint = x3d_files
    tool = _deploy_tool()
    out = str(tmp_path / 'deployed')
    args = [config, checkpoint, '--frames', '4', '--out-dir', out]
    assert tool.main(args) == 0
    before = _files(out)
    assert sorted(before) == ['ffn_x3d_demo_4f.pth', 'ffn_x3d_demo_4f.py']
    with pytest.raises(FileExistsError) as error:
        tool.main(args)
    message = str(error.value)
    assert 'ffn_x3d_demo_4f.py' in message and '--force' in message
    assert _files(out) == before
    # Another count next to it is no replacement.
    assert tool.main(args[:2] + ['--frames', '8', '--out-dir', out]) == 0
    assert tool.main(args + ['--force']) == 0
    assert sorted(_files(out)) == [
        'ffn_x3d_demo_4f.pth', 'ffn_x3d_demo_4f.py', 'ffn_x3d_demo_8f.pth',
        'ffn_x3d_demo_8f.py'
    ]


def test_a_checkpoint_meta_that_is_not_a_dict_is_named(x3d_files, tmp_path):
    config, checkpoint = x3d_files
    state_dict = torch.load(checkpoint, weights_only=True)['state_dict']
    listed = str(tmp_path / 'listed_meta.pth')
    torch.save({'state_dict': state_dict, 'meta': ['cfg']}, listed)
    out = tmp_path / 'out'
    with pytest.raises(
            ValueError,
            match=r"listed_meta\.pth's meta is a list, not a dict"):
        deploy(config, listed, 4, str(out))
    assert not out.exists()


# A deployment killed in the middle of writing its checkpoint: torch.save
# writes half a file, then the process dies (no cleanup runs).
KILLED_DEPLOY = textwrap.dedent("""
    import importlib.util, os, sys
    import torch
    import mmffn  # noqa: F401

    def killed_save(obj, f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)):
            f = open(f, 'wb')
        f.write(b'half a checkpoint')
        f.flush()
        os._exit(137)

    torch.save = killed_save
    spec = importlib.util.spec_from_file_location('deploy_tool', sys.argv[1])
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(sys.argv[2:])
""")


def _killed_deploy(tmp_path, config, checkpoint, out, *options):
    script = tmp_path / 'killed_deploy.py'
    script.write_text(KILLED_DEPLOY)
    proc = subprocess.run([
        sys.executable,
        str(script),
        osp.join(REPO, 'tools', 'deploy.py'), config, checkpoint, '--frames',
        '4', '--out-dir', out, '--no-verify', *options
    ],
                          capture_output=True,
                          text=True,
                          cwd=str(tmp_path))
    assert proc.returncode == 137, proc.stderr[-3000:]
    return _visible_files(out)


def _visible_files(folder) -> dict:
    # Not the hidden temporary files a killed deployment leaves behind.
    return {k: v for k, v in _files(folder).items() if not k.startswith('.')}


def test_a_kill_while_deploying_leaves_no_half_written_file(
        x3d_files, tmp_path):
    """Killed while writing the checkpoint: into an empty folder, nothing
    is left under the deployment's names (no config without its weights);
    over an existing deployment (--force), the old files stay whole."""
    config, checkpoint = x3d_files
    out = str(tmp_path / 'deployed')
    assert _killed_deploy(tmp_path, config, checkpoint, out) == {}
    assert _deploy_tool().main(
        [config, checkpoint, '--frames', '4', '--out-dir', out]) == 0
    before = _visible_files(out)
    # Another checkpoint, so that a replaced file would differ.
    other = str(tmp_path / 'other.pth')
    _save_ffn(Config.fromfile(config), other, seed=1)
    assert _killed_deploy(tmp_path, config, other, out, '--force') == before
    torch.load(osp.join(out, 'ffn_x3d_demo_4f.pth'), weights_only=True)


# --- item 11: a TPN checkpoint saved after a validation -------------------
def _tiny_tpn_config(path: str) -> str:
    """A TPN-TSM FFN config (MMAction2's TPN neck and TPNHead with fcn_test)
    on a ResNet-18, narrow neck, counts (4, 8) (the neck pools time by 8:
    higher counts do not train)."""
    text = textwrap.dedent("""
        custom_imports = dict(imports=['mmffn'], allow_failed_imports=False)
        model = dict(
            type='RecognizerFFN',
            backbone=dict(
                type='ResNetTSM_FFN',
                num_segments_list=(4, 8),
                pretrained=None,
                depth=18,
                out_indices=(2, 3),
                norm_eval=False,
                shift_div=8),
            neck=dict(
                type='TPN',
                in_channels=(256, 512),
                out_channels=64,
                spatial_modulation_cfg=dict(
                    in_channels=(256, 512), out_channels=512),
                temporal_modulation_cfg=dict(downsample_scales=(8, 8)),
                upsample_cfg=dict(scale_factor=(1, 1, 1)),
                downsample_cfg=dict(downsample_scale=(1, 1, 1)),
                level_fusion_cfg=dict(
                    in_channels=(64, 64),
                    mid_channels=(64, 64),
                    out_channels=512,
                    downsample_scales=((1, 1, 1), (1, 1, 1))),
                aux_head_cfg=dict(out_channels=3, loss_weight=0.5)),
            cls_head=dict(
                type='TPNHead',
                num_classes=3,
                in_channels=2048,  # TPN's pyramid fusion: always 2048
                spatial_type='avg',
                consensus=dict(type='AvgConsensus', dim=1),
                dropout_ratio=0.0,
                average_clips='prob'),
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCHW'),
            test_cfg=dict(fcn_test=True))
    """)
    with open(path, 'w') as f:
        f.write(text)
    return path


@pytest.fixture(scope='module')
def validated_tpn(tmp_path_factory):
    """(config, checkpoint) of a tiny TPN model saved after one test pass:
    its state dict holds cls_head.new_cls.*, as after a validation."""
    from mmaction.structures import ActionDataSample
    root = tmp_path_factory.mktemp('tpn')
    config = _tiny_tpn_config(str(root / 'tiny_tpn.py'))
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model).eval()
    sample = ActionDataSample()
    sample.set_metainfo(dict(num_clips=8, clip_len=1))
    with torch.no_grad():
        model.test_step(
            dict(
                inputs=[torch.randint(0, 255, (8, 3, 32, 32)).float()],
                data_samples=[sample]))
    state_dict = model.state_dict()
    assert {'cls_head.new_cls.weight', 'cls_head.new_cls.bias'
            } <= set(state_dict)
    checkpoint = str(root / 'validated.pth')
    torch.save({'state_dict': state_dict, 'meta': {}}, checkpoint)
    return config, checkpoint, state_dict


class _Records(logging.Handler):

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_a_validated_tpn_checkpoint_deploys(validated_tpn, tmp_path,
                                            one_thread):
    config, checkpoint, _ = validated_tpn
    logger = MMLogger.get_current_instance()
    records = _Records()
    logger.addHandler(records)
    try:
        assert _deploy_tool().main(
            [config, checkpoint, '--frames', '8', '--out-dir',
             str(tmp_path)]) == 0
    finally:
        logger.removeHandler(records)
    dropped = [m for m in records.messages if 'new_cls' in m]
    assert len(dropped) == 1, records.messages
    assert 'cls_head.new_cls.weight' in dropped[0]
    assert 'cls_head.new_cls.bias' in dropped[0]
    saved = torch.load(
        str(tmp_path / 'tiny_tpn_8f.pth'), weights_only=True)['state_dict']
    assert not [k for k in saved if 'new_cls' in k]


def test_other_unexpected_keys_still_fail_the_deployment(
        validated_tpn, tmp_path):
    config, _, state_dict = validated_tpn
    stray = dict(state_dict)
    stray['cls_head.other_cls.weight'] = torch.zeros(3)
    checkpoint = str(tmp_path / 'stray.pth')
    torch.save({'state_dict': stray, 'meta': {}}, checkpoint)
    with pytest.raises(RuntimeError, match='cls_head.other_cls.weight'):
        _deploy_tool().main([
            config, checkpoint, '--frames', '8', '--out-dir',
            str(tmp_path / 'out')
        ])
    assert not osp.exists(tmp_path / 'out' / 'tiny_tpn_8f.pth')
