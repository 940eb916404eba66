"""Bad inputs: each gives a clear error (type, the offending value, what is
expected) or a documented fallback; and checkpoints load safely.

Fallbacks (docs/reliability.md, "Resuming, failures and bad input"):
* a frame count without a trained branch uses the nearest one under
  ``branch_policy='nearest'`` (ties to the higher);
* a video shorter than a frame count is sampled as ``SampleFrames`` does
  (indices repeat; all valid);
* ``load_from`` is MMEngine's non-strict load: keys that do not fit are
  listed in a warning and keep their current values (use
  ``model.backbone.pretrained`` to convert a ResNet/TSM checkpoint, which
  raises on anything that does not fit).
"""
import os
import os.path as osp
import pickle
import re

import numpy as np
import pytest
import torch
from decord import DECORDError
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401
from mmffn.datasets.transforms import MultiRateSampleFrames
from mmffn.models.backbones.resnet_tsm_ffn import ResNetTSM_FFN

init_default_scope('mmaction')
COUNTS = (4, 8, 16)
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def samples(n, **meta):
    out = []
    for i in range(n):
        sample = ActionDataSample().set_gt_label(torch.tensor([i % 4]))
        sample.set_metainfo(meta)
        out.append(sample)
    return out


@pytest.fixture(scope='module')
def recognizer():
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='RecognizerFFN',
            backbone=dict(
                type='ResNetTSM_FFN', depth=18, num_segments_list=COUNTS),
            cls_head=dict(
                type='TSMHead',
                num_classes=4,
                in_channels=512,
                num_segments=16,
                average_clips='prob'),
            data_preprocessor=dict(
                type='ActionDataPreprocessor', format_shape='NCHW')))
    model.init_weights()
    return model


# --- frame counts -----------------------------------------------------------
BAD_COUNTS = [
    ((8, 4, 16), r'must be sorted ascending, got \(8, 4, 16\) \(expected '
     r'\(4, 8, 16\)\)'),
    ((4, 4, 8), r'must not contain duplicates, got \(4, 4, 8\)'),
    ((0, 4, 8), r'must contain positive ints, got 0 in \(0, 4, 8\)'),
    ((-4, 8), r'must contain positive ints, got -4 in \(-4, 8\)'),
    ((), r'must not be empty'),
    ((4.0, 8), r'must contain ints, got 4.0'),
]


@pytest.mark.parametrize('counts,message', BAD_COUNTS)
def test_bad_frame_counts_name_the_value(counts, message):
    with pytest.raises(ValueError, match='num_clips_list ' + message):
        MultiRateSampleFrames(num_clips_list=counts)
    with pytest.raises(ValueError, match='num_segments_list ' + message):
        ResNetTSM_FFN(depth=18, num_segments_list=counts)


def test_sampler_counts_that_differ_from_the_backbone(recognizer):
    # Same total (28 frames) but other counts: named both ways.
    with pytest.raises(
            ValueError,
            match=re.escape(
                'Sampler clip_lens (2, 10, 16) do not match the backbone '
                'num_segments_list (4, 8, 16)')):
        recognizer(
            torch.zeros(2, 28, 3, 16, 16),
            samples(2, clip_lens=(2, 10, 16)),
            mode='loss')
    # Another total: the frame count and the sampler to use.
    with pytest.raises(
            ValueError,
            match=re.escape(
                'Training clip has 12 frames but the backbone trains counts '
                '(4, 8, 16) (sum 28). Use MultiRateSampleFrames('
                'num_clips_list=(4, 8, 16))')):
        recognizer(
            torch.zeros(2, 12, 3, 16, 16),
            samples(2, clip_lens=(4, 8)),
            mode='loss')


def test_untrained_count_under_strict_policy(recognizer, monkeypatch):
    assert recognizer.backbone.branch_for(6) == 8  # 'nearest': ties up
    assert recognizer.backbone.branch_for(12) == 16
    assert recognizer.backbone.branch_for(100) == 16
    monkeypatch.setattr(recognizer.backbone, 'branch_policy', 'strict')
    message = re.escape('6 frames were not trained (branch_policy="strict")'
                        '; trained frame counts: (4, 8, 16)')
    with pytest.raises(ValueError, match=message):
        recognizer.eval()(
            torch.zeros(1, 6, 3, 16, 16),
            samples(1, num_clips=6),
            mode='predict')
    with pytest.raises(ValueError, match='strict'):
        ResNetTSM_FFN(depth=18, num_segments=6, branch_policy='strict')
    with pytest.raises(
            ValueError, match=r"one of \('nearest', 'strict'\), "
            r"got 'closest'"):
        ResNetTSM_FFN(depth=18, branch_policy='closest')


def test_batch_not_divisible_by_the_frame_count(recognizer):
    backbone = recognizer.backbone.eval()
    with pytest.raises(
            ValueError,
            match='batch of 10 frames, which is not a '
            'multiple of the frame count 4'):
        with backbone.frame_count(4):
            backbone(torch.zeros(10, 3, 16, 16))
    with pytest.raises(
            ValueError,
            match='10 frames per sample, not a '
            r'multiple of the clip frame count \(num_clips x '
            r'clip_len\): 4'):
        recognizer.eval()(
            torch.zeros(1, 10, 3, 16, 16),
            samples(1, num_clips=4),
            mode='predict')
    for bad in (0, -8, 2.5, True):
        with pytest.raises(
                ValueError,
                match=re.escape(f'must be a positive int, got {bad!r}')):
            with backbone.frame_count(bad):
                pass


# --- short, empty and corrupt videos ---------------------------------------
@pytest.mark.parametrize('test_mode', [False, True])
@pytest.mark.parametrize('total_frames', [1, 2, 5, 15])
@pytest.mark.parametrize('start_index', [0, 1])
def test_video_shorter_than_the_largest_count(total_frames, test_mode,
                                              start_index):
    """Fallback: SampleFrames' behaviour per count; every index valid."""
    from mmaction.datasets.transforms import SampleFrames
    results = dict(total_frames=total_frames, start_index=start_index)
    np.random.seed(1)
    inds = MultiRateSampleFrames(
        test_mode=test_mode)(dict(results))['frame_inds']
    assert inds.shape == (28, )
    assert inds.min() >= start_index
    assert inds.max() < start_index + total_frames
    np.random.seed(1)
    expected = np.concatenate([
        SampleFrames(clip_len=1, num_clips=count,
                     test_mode=test_mode)(dict(results))['frame_inds']
        for count in COUNTS
    ])
    np.testing.assert_array_equal(inds, expected)


def test_video_without_frames_is_named():
    with pytest.raises(
            ValueError,
            match=re.escape(
                "'a/b.mp4' has total_frames=0: MultiRateSampleFrames needs at "
                'least 1 frame')):
        MultiRateSampleFrames()(
            dict(total_frames=0, start_index=0, filename='a/b.mp4'))


# decord raises RuntimeError or its own DECORDError (not a RuntimeError)
# depending on where a file breaks; mmffn's wrapper keeps the type.
DECORD_ERRORS = (RuntimeError, DECORDError)


@pytest.fixture(scope='module')
def bad_videos(tiny_video_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp('bad_videos')
    good = osp.join(tiny_video_root, 'videos', 'train_00000.mp4')
    with open(good, 'rb') as f:
        data = f.read()
    videos = dict(
        empty=b'',
        garbage=b'this is not a video\n',
        truncated=data[:len(data) * 3 // 4],
    )
    for name, content in videos.items():
        (folder / f'{name}.mp4').write_bytes(content)
    return str(folder), sorted(videos)


def test_corrupt_video_errors_name_the_file(bad_videos):
    from mmaction.datasets.transforms import DecordInit
    folder, names = bad_videos
    for name in names:
        path = osp.join(folder, f'{name}.mp4')
        with pytest.raises(
                DECORD_ERRORS,
                match=re.escape(f"Cannot open video '{path}' with decord")):
            DecordInit()(dict(filename=path))
        # Upstream's own error does not say which file.
        with pytest.raises(DECORD_ERRORS) as upstream:
            DecordInit.transform.__wrapped__(DecordInit(), dict(filename=path))
        assert path not in str(upstream.value)
    missing = osp.join(folder, 'missing.mp4')
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        DecordInit()(dict(filename=missing))


def test_corrupt_video_in_a_training_dataset_is_named(bad_videos):
    """What a training run shows: VideoDataset + the FFN pipeline."""
    from mmaction.datasets import VideoDataset
    folder, names = bad_videos
    ann = osp.join(folder, 'ann.txt')
    with open(ann, 'w') as f:
        f.writelines(f'{name}.mp4 0\n' for name in names)
    dataset = VideoDataset(
        ann,
        data_prefix=dict(video=folder),
        pipeline=[
            dict(type='DecordInit'),
            dict(type='MultiRateSampleFrames', num_clips_list=COUNTS),
            dict(type='UniqueDecordDecode'),
        ])
    for index, name in enumerate(names):
        with pytest.raises(
                DECORD_ERRORS,
                match=re.escape(osp.join(folder, f'{name}.mp4'))):
            dataset[index]


def test_video_that_opens_without_frames_is_named(monkeypatch):
    from mmaction.datasets.transforms import DecordInit

    class NoFrames:

        def __init__(self, *args, **kwargs):
            pass

        def __len__(self):
            return 0

        def get_avg_fps(self):
            return 30.0

    monkeypatch.setattr(DecordInit, '_get_video_reader',
                        lambda self, filename: NoFrames())
    with pytest.raises(ValueError, match="Video 'x.mp4' has no frames"):
        DecordInit()(dict(filename='x.mp4'))


# --- checkpoints ------------------------------------------------------------
@pytest.fixture(scope='module')
def checkpoints(tmp_path_factory):
    """Files that are not checkpoints, and checkpoints that do not fit."""
    from mmaction.models.backbones import ResNet
    folder = tmp_path_factory.mktemp('checkpoints')
    torch.manual_seed(0)
    ffn = ResNetTSM_FFN(depth=18, num_segments_list=COUNTS).state_dict()
    paths = {}

    def save(name, obj):
        paths[name] = str(folder / f'{name}.pth')
        torch.save(obj, paths[name])

    save('ffn', dict(state_dict=ffn, meta=dict(epoch=1)))
    save('no_branch_8',
         {k: v
          for k, v in ffn.items() if '.branches.8.' not in k})
    save('resnet50', ResNet(depth=50).state_dict())
    save('not_a_resnet', {'encoder.layers.0.attn.weight': torch.ones(3, 3)})
    with open(paths['ffn'], 'rb') as f:
        data = f.read()
    for name, content in dict(
            truncated=data[:len(data) // 2],
            empty=b'',
            text=b'epoch = 3\nnot a checkpoint\n').items():
        paths[name] = str(folder / f'{name}.pth')
        with open(paths[name], 'wb') as f:
            f.write(content)
    return paths


@pytest.mark.parametrize('name,hint', [
    ('truncated', 'not a complete zip archive: truncated'),
    ('empty', 'The file is empty'),
    ('text', 'not a complete zip archive'),
])
def test_a_file_that_is_not_a_checkpoint_is_named(checkpoints, name, hint):
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    path = checkpoints[name]
    message = re.escape(f"Cannot load checkpoint '{path}'") + '.*' + hint
    # load_from, --resume and tools/test.py (Runner.load_checkpoint) ...
    with pytest.raises(RuntimeError, match=message):
        _load_checkpoint(path, map_location='cpu')
    # ... and backbone `pretrained` all load through this.
    backbone = ResNetTSM_FFN(depth=18, pretrained=path)
    with pytest.raises(RuntimeError, match=message):
        backbone.init_weights()
    # Upstream: torch's error (IndexError, EOFError, ...) without the file.
    with pytest.raises(Exception) as upstream:
        CheckpointLoader._schemes[''].__wrapped__(path, 'cpu')
    assert path not in str(upstream.value)


@pytest.mark.parametrize('name,message', [
    ('resnet50', r'resnet50.pth does not fit ResNetTSM_FFN\(depth=18\): \d+ '
     r'with another shape \(e\.g\. \[.layer1\.0\.conv1\.conv\.net\.weight: '
     r'\(64, 64, 1, 1\) in checkpoint vs \(64, 64, 3, 3\) in model'),
    ('not_a_resnet', r'No weight of .*not_a_resnet.pth fits '
     r'ResNetTSM_FFN\(depth=18\): it is not a ResNet, ResNetTSM or FFN '
     r'checkpoint'),
    ('no_branch_8', r'no_branch_8.pth does not fit ResNetTSM_FFN\(depth=18\)'
     r': \d+ backbone weights missing \(e\.g\. \[.[\w.]*\.branches\.8\.'),
])
def test_checkpoint_that_does_not_fit_as_pretrained(checkpoints, name,
                                                    message):
    backbone = ResNetTSM_FFN(depth=18, pretrained=checkpoints[name])
    with pytest.raises(ValueError, match=message):
        backbone.init_weights()


def test_checkpoint_that_does_not_fit_as_load_from(recognizer, checkpoints,
                                                   tmp_path, capsys):
    """Documented fallback: Runner.load_checkpoint's non-strict load lists
    every key that does not fit and keeps those weights as they are."""
    import copy

    from mmengine.runner.checkpoint import (_load_checkpoint,
                                            _load_checkpoint_to_model)
    model = copy.deepcopy(recognizer)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # A recognizer checkpoint whose 8-frame branches are missing.
    trained = {
        k: v + 1 if v.is_floating_point() else v
        for k, v in before.items() if '.branches.8.' not in k
    }
    path = str(tmp_path / 'no_branch_8.pth')
    torch.save(dict(state_dict=trained), path)

    def load_from(path):  # as Runner.load_checkpoint calls it
        checkpoint = _load_checkpoint(path, map_location='cpu')
        _load_checkpoint_to_model(
            model, checkpoint, strict=False, revise_keys=[(r'^module.', '')])
        return capsys.readouterr().out

    out = load_from(path)
    assert 'The model and loaded state dict do not match exactly' in out
    missing = re.search('missing keys in source state_dict: (.*)', out)
    assert missing and all('.branches.8.' in k
                           for k in missing.group(1).split(', '))
    after = model.state_dict()
    for key, value in after.items():
        expected = trained.get(key, before[key])  # missing: kept
        assert torch.equal(value, expected), key

    # Another architecture: every key listed, nothing loaded.
    out = load_from(checkpoints['resnet50'])
    assert 'unexpected key in source state_dict: conv1.conv.weight' in out
    assert 'backbone.conv1.bn.branches.4.weight' in out
    for key, value in model.state_dict().items():
        assert torch.equal(value, after[key]), key


def test_ffn_checkpoint_fits_as_pretrained(checkpoints):
    backbone = ResNetTSM_FFN(depth=18, pretrained=checkpoints['ffn'])
    backbone.init_weights()
    reference = torch.load(checkpoints['ffn'])['state_dict']
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, reference[key]), key


# --- safe loading -----------------------------------------------------------
def test_nothing_in_mmffn_turns_unsafe_loading_on():
    # pickle_module= also switches torch.load's weights_only default off.
    pattern = re.compile(r'weights_only\s*=\s*False|'
                         r'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD|pickle_module')
    offenders = []
    for folder in ('mmffn', 'tools', 'configs'):
        for root, _, files in os.walk(osp.join(REPO, folder)):
            for name in files:
                if name.endswith(('.py', '.sh')):
                    path = osp.join(root, name)
                    with open(path) as f:
                        if pattern.search(f.read()):
                            offenders.append(path)
    assert offenders == []
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ


class _Payload:
    """Unpickling this would create a file: code execution."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_a_malicious_checkpoint_is_refused_and_named(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    marker = str(tmp_path / 'pwned')
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {}, 'meta': _Payload(marker)}, path)
    with pytest.raises(
            pickle.UnpicklingError,
            match=re.escape(path) + '.*Weights only load failed'):
        _load_checkpoint(path, map_location='cpu')
    assert not osp.exists(marker)
    backbone = ResNetTSM_FFN(depth=18, pretrained=path)
    with pytest.raises(pickle.UnpicklingError, match=re.escape(path)):
        backbone.init_weights()
    assert not osp.exists(marker)


def test_runner_checkpoints_load_with_weights_only(tmp_path, recognizer):
    """What the Runner writes (message hub, numpy meta) loads under
    torch.load(weights_only=True) thanks to the registered safe globals."""
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import save_checkpoint
    hub = MessageHub.get_instance('reliability')
    hub.update_scalar('train/loss', 1.5)
    hub.update_info('keep_ckpt_ids', [1, 2])
    path = str(tmp_path / 'epoch_1.pth')
    save_checkpoint(
        dict(
            meta=dict(
                epoch=1, seed=0, dataset_meta=dict(classes=np.arange(3))),
            state_dict=recognizer.state_dict(),
            message_hub=hub.state_dict()), path)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint['message_hub']['log_scalars']['train/loss'].current() \
        == 1.5
    assert any('.branches.16.running_var' in k
               for k in checkpoint['state_dict'])
