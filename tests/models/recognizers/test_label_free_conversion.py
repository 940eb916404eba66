"""Label-free conversion pieces of RecognizerFFN: trainable parts, the
frozen teacher, the supervision options and loading a stock checkpoint."""
import pytest
import torch
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from shared_builders import TINY_SLOWFAST, TINY_X3D

import mmffn  # noqa: F401
from mmffn.apis import frame_flexible_model
from mmffn.models.recognizers.trainable_parts import parameter_parts
from mmffn.models.stock_checkpoint import checkpoint_frames

COUNTS = (2, 4)
NUM_CLASSES = 3


def head(count=COUNTS[-1], dropout=0.0):
    return dict(
        type='TSMHead',
        num_classes=NUM_CLASSES,
        in_channels=512,
        num_segments=count,
        dropout_ratio=dropout,
        average_clips='prob')


PREPROCESSOR = dict(type='ActionDataPreprocessor', format_shape='NCHW')


def stock_cfg(frames=COUNTS[-1], depth=18):
    return dict(
        type='Recognizer2D',
        backbone=dict(
            type='ResNetTSM',
            depth=depth,
            pretrained=None,
            num_segments=frames,
            norm_eval=False),
        cls_head=head(frames) if depth == 18 else dict(
            head(frames), in_channels=2048),
        data_preprocessor=PREPROCESSOR)


def ffn_cfg(**overrides):
    cfg = dict(
        type='RecognizerFFN',
        backbone=dict(
            type='ResNetTSM_FFN',
            depth=18,
            pretrained=None,
            num_segments_list=COUNTS,
            norm_eval=False),
        cls_head=head(dropout=0.5),
        data_preprocessor=PREPROCESSOR)
    cfg.update(overrides)
    return cfg


def build(cfg):
    init_default_scope('mmaction')
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    if cfg['type'] == 'RecognizerFFN':  # stock: PyTorch's default init
        model.init_weights()
    return model


@pytest.fixture(scope='module')
def stock_checkpoint(tmp_path_factory):
    """A stock TSM-R18 at the highest count with non-trivial norms, saved
    as MMEngine saves it (its config in ``meta``)."""
    stock = build(stock_cfg())
    with torch.no_grad():
        for module in stock.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    path = str(tmp_path_factory.mktemp('stock') / 'tsm.pth')
    cfg_text = f'model = {stock_cfg()!r}\n'
    torch.save(
        dict(state_dict=stock.state_dict(), meta=dict(cfg=cfg_text)), path)
    return stock.eval(), path


def samples(n, labels=True):
    out = []
    for i in range(n):
        sample = ActionDataSample()
        if labels:
            sample.set_gt_label(torch.tensor([i % NUM_CLASSES]))
        sample.set_metainfo(dict(clip_lens=COUNTS))
        out.append(sample)
    return out


def batch(n=2):
    torch.manual_seed(1)
    return dict(
        inputs=[torch.rand(sum(COUNTS), 3, 32, 32) * 255 for _ in range(n)],
        data_samples=samples(n, labels=False))


def test_parts_are_found_from_the_layers():
    model = build(ffn_cfg())
    parts = parameter_parts(model, COUNTS[-1])
    assert parts['backbone.conv1.bn.branches.2.weight'] == 'norms'
    assert parts['backbone.conv1.bn.branches.4.weight'] == 'teacher'
    assert parts['backbone.layer1.0.conv1.conv.net.alteration.2.weight'] == (
        'adapters')
    assert parts['backbone.layer1.0.conv1.conv.net.alteration.4.weight'] == (
        'teacher')
    assert parts['backbone.layer1.0.conv1.conv.net.weight'] == 'shared'
    assert parts['cls_head.fc_cls.weight'] == 'shared'
    overhead = model.backbone.parameter_overhead()
    per_count = sum(p.numel() for n, p in model.named_parameters()
                    if parts[n] in ('norms', 'adapters'))
    # One count below the highest: its norm copies and its adapters.
    assert per_count == overhead[
        'rate_specific_norm'] + overhead['weight_alteration'] // len(COUNTS)


def test_frozen_teacher_keeps_everything_but_the_lower_counts(
        stock_checkpoint):
    _, path = stock_checkpoint
    model = build(
        ffn_cfg(
            stock_checkpoint=path,
            supervision='none',
            trainable=('norms', 'adapters')))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optim = OptimWrapper(
        torch.optim.SGD([p for p in model.parameters() if p.requires_grad],
                        lr=0.5))
    model.train()
    log = model.train_step(batch(), optim)
    assert set(log) == {'loss', 'loss_distill'}
    assert log['loss_distill'] > 0
    parts = parameter_parts(model, COUNTS[-1])
    after = model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    for key in changed:
        # Weights, adapters and running statistics of the 2-frame branch.
        assert '.branches.2.' in key or '.alteration.2.' in key, key
    assert any('alteration.2' in k for k in changed)
    assert any(k.endswith('branches.2.running_mean') for k in changed)
    assert any(k.endswith('branches.2.weight') for k in changed)
    assert model.training  # the teacher's eval mode was undone
    assert all(p.requires_grad == (parts[n] in ('norms', 'adapters'))
               for n, p in model.named_parameters())


def test_stock_checkpoint_makes_every_count_the_stock_model(stock_checkpoint):
    stock, path = stock_checkpoint
    model = build(ffn_cfg(stock_checkpoint=path)).eval()
    torch.manual_seed(2)
    with torch.no_grad():
        for count in COUNTS:
            # The stock model run at this count: its shift and head too.
            for module in stock.modules():
                if isinstance(getattr(module, 'num_segments', None), int):
                    module.num_segments = count
            clips = torch.randn(2, count, 3, 32, 32)
            want = stock._forward(clips, stage='head')
            got = model._forward(clips, stage='head')
            assert want.shape == (2, NUM_CLASSES)
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_a_checkpoint_of_another_architecture_is_refused(
        stock_checkpoint, tmp_path):
    _, path = stock_checkpoint
    model = build(ffn_cfg())
    r50 = tmp_path / 'r50.pth'
    torch.save(build(stock_cfg(depth=50)).state_dict(), r50)
    with pytest.raises(
            ValueError,
            match=r'r50\.pth is not a checkpoint of '
            r'the stock model.*weights of another shape'):
        model.stock_checkpoint = str(r50)
        model.init_weights()


def test_a_teacher_count_that_is_not_the_checkpoints_is_refused(tmp_path):
    stock = build(stock_cfg(frames=8))
    path = tmp_path / 'tsm8.pth'
    torch.save(
        dict(
            state_dict=stock.state_dict(),
            meta=dict(cfg=f'model = {stock_cfg(frames=8)!r}\n')), path)
    assert checkpoint_frames(torch.load(path, weights_only=False)) == 8
    with pytest.raises(
            ValueError,
            match=r'tsm8\.pth was trained at 8 frames'
            r'.*highest count, the teacher, is 4'):
        build(ffn_cfg(stock_checkpoint=str(path)))


def test_supervision_every_puts_the_head_loss_on_every_count():
    model = build(ffn_cfg(supervision='every', distill_loss=None))
    data = batch()
    data['data_samples'] = samples(2)
    data = model.data_preprocessor(data, True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_cls', 'loss_cls_2f', 'top1_acc_2f'} <= set(losses)
    assert 'loss_distill' not in losses


def test_nothing_trainable_only_reestimates_the_lower_norms(stock_checkpoint):
    _, path = stock_checkpoint
    model = build(
        ffn_cfg(stock_checkpoint=path, supervision='none', trainable=()))
    before = {k: v.clone() for k, v in model.state_dict().items()}

    class NoStep(OptimWrapper):

        def update_params(self, *args, **kwargs):
            raise AssertionError('no optimizer step when nothing trains')

    model.train()
    unused = torch.nn.Parameter(torch.zeros(1))
    log = model.train_step(batch(), NoStep(torch.optim.SGD([unused], lr=1)))
    assert 'loss_distill' in log
    changed = {
        k
        for k, v in model.state_dict().items()
        if not torch.equal(v, before[k])
    }
    assert changed and all('.branches.2.' in k and 'running' in k
                           or k.endswith('branches.2.num_batches_tracked')
                           for k in changed), changed


@pytest.mark.parametrize('options, message', [
    (dict(supervision='all'), r"supervision must be one of .*got 'all'"),
    (dict(supervision='highest', trainable=('norms', )),
     r"freezes the highest count.*supervision='none'"),
    (dict(distill_loss=None), r'distill_loss=None leaves the counts below'),
    (dict(trainable=('norm', )), r"Unknown trainable parts \['norm'\]"),
    (dict(trainable='norms'), r'trainable must be None or a sequence'),
])
def test_bad_training_options_are_refused(options, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build(ffn_cfg(**options))


@pytest.mark.parametrize(
    'stock_cfg', [TINY_X3D, TINY_SLOWFAST], ids=['x3d', 'slowfast'])
def test_a_3d_stock_checkpoint_fills_every_count(stock_cfg, tmp_path,
                                                 randomise_norms):
    """The same loading for a 3D family: RecognizerFFN3D at every count
    computes the stock Recognizer3D on that count's clip."""
    init_default_scope('mmaction')
    torch.manual_seed(0)
    stock = MODELS.build(stock_cfg)
    randomise_norms(stock)
    path = tmp_path / 'stock3d.pth'
    torch.save(dict(state_dict=stock.state_dict()), path)
    counts = (2, 4)
    cfg = frame_flexible_model(stock_cfg, counts)
    cfg.update(
        stock_checkpoint=str(path),
        supervision='none',
        trainable=('norms', 'adapters'))
    ffn = MODELS.build(cfg)
    ffn.init_weights()
    stock.eval()
    ffn.eval()
    with torch.no_grad():
        for count in counts:
            clips = torch.randn(2, 1, 3, ffn.backbone.input_frames(count), 32,
                                32)
            torch.testing.assert_close(
                ffn._forward(clips, stage='head'),
                stock._forward(clips, stage='head'),
                atol=1e-5,
                rtol=1e-5)


def test_the_config_saved_in_a_stock_checkpoint_never_runs(tmp_path):
    # A checkpoint of tensors and strings only, whose saved config text
    # would write a file if it were executed.
    stock = build(stock_cfg())
    marker = tmp_path / 'written_by_the_checkpoint'
    path = tmp_path / 'tsm.pth'
    code = (f"open({str(marker)!r}, 'w').write('x')\n"
            f'model = {stock_cfg(frames=8)!r}\n'
            "model['backbone']['num_segments'] = 4\n")
    torch.save(dict(state_dict=stock.state_dict(), meta=dict(cfg=code)), path)
    checkpoint = torch.load(path, weights_only=True)
    # Read as data: the literal model config says 8 frames; nothing ran.
    assert checkpoint_frames(checkpoint) == 8
    with pytest.raises(ValueError, match=r'trained at 8 frames'):
        build(ffn_cfg(stock_checkpoint=str(path)))
    assert not marker.exists()
