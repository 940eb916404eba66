"""torch.compile of RecognizerFFN's training (MMEngine's ``compile=True``).

MMEngine compiles ``model.train_step``. The passes of the trained counts
must trace as one function with static shapes: the loss, the steps through
``train_step`` and the updated parameters equal the eager ones, and once
SGD has its momentum buffers, steps compile nothing again. Before the
head's losses moved out of the per-count loop, their numpy accuracy broke
the graph inside the loop, the loss ran eagerly and every pass compiled
apart (a recompile per count, then a dynamic frame axis). The ``eager``
backend checks Dynamo's tracing without Inductor's code generation, which
takes minutes on a small CPU.
"""
import pytest
import torch
import torch._dynamo
from mmengine.optim import OptimWrapper

import mmffn  # noqa: F401
from tests.shared_builders import (build_for_training, labelled_samples,
                                   tsm_r18_cfgs)

COUNTS = (4, 8, 16)  # the default counts: three passes per step


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def unique_graphs() -> int:
    return torch._dynamo.utils.counters['stats']['unique_graphs']


def compiled_loss_graphs(model, inputs, samples) -> int:
    """Graphs Dynamo makes of ``model.loss`` (checked against eager, and
    with no recompile on a second batch)."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager = model.loss(inputs, samples)
    compiled = torch.compile(model.loss, backend='eager')
    # No function compiles twice, from the first batch on: a recompile
    # there is a pass compiled apart per count.
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = compiled(inputs, samples)
        compiled(torch.randn_like(inputs), samples)
    assert list(got) == list(eager)  # same keys, same order
    for name in eager:
        torch.testing.assert_close(
            got[name], eager[name], rtol=1e-5, atol=1e-6, msg=name)
    return unique_graphs()


def test_compiled_loss_traces_every_count_as_the_stock_loss_does():
    ffn_cfg, stock_cfg = tsm_r18_cfgs(COUNTS)
    ffn, stock = build_for_training(ffn_cfg), build_for_training(stock_cfg)
    torch.manual_seed(1)
    inputs = torch.randn(2, sum(COUNTS), 3, 32, 32)
    ffn_graphs = compiled_loss_graphs(ffn, inputs, labelled_samples(2, COUNTS))
    stock_graphs = compiled_loss_graphs(stock,
                                        inputs[:, -COUNTS[-1]:].contiguous(),
                                        labelled_samples(2, COUNTS))
    # The stock loss breaks where MMAction2 computes accuracies in numpy;
    # FFN's three passes add no graph of their own.
    assert ffn_graphs == stock_graphs


def test_compiled_train_step_updates_parameters_as_eager():
    inputs = torch.randint(0, 255, (2, sum(COUNTS), 3, 32, 32)).float()
    results = []
    for compile_step in (False, True):
        torch._dynamo.reset()
        model = build_for_training(tsm_r18_cfgs(COUNTS)[0])
        wrapper = OptimWrapper(
            torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        step = model.train_step
        if compile_step:  # what MMEngine's Runner does with compile=True
            step = torch.compile(step, backend='eager')
        batches = [inputs, inputs.flip(0), inputs.flip(1)]
        for index, batch in enumerate(batches):
            # From the third step on nothing compiles again (the second
            # recompiles SGD's step, which then has momentum buffers).
            recompile_is_error = compile_step and index == 2
            with torch._dynamo.config.patch(
                    error_on_recompile=recompile_is_error):
                log_vars = step(
                    dict(
                        inputs=list(batch),
                        data_samples=labelled_samples(2, COUNTS)), wrapper)
        results.append((log_vars, dict(model.named_parameters())))
    (eager_log, eager_params), (compiled_log, compiled_params) = results
    assert set(compiled_log) == set(eager_log) >= {
        'loss', 'loss_cls', 'loss_distill'
    }
    for name in eager_log:
        torch.testing.assert_close(
            compiled_log[name], eager_log[name], rtol=1e-5, atol=1e-6)
    initial = dict(
        build_for_training(tsm_r18_cfgs(COUNTS)[0]).named_parameters())
    for name, param in eager_params.items():
        torch.testing.assert_close(
            compiled_params[name], param, rtol=1e-5, atol=1e-6, msg=name)
    # The steps moved what FFN adds too: adapters and the lower counts'
    # norms (trained only through the compiled passes of 4 and 8 frames).
    for part in ('alteration.4.', 'alteration.8.', 'branches.4.weight'):
        assert any(
            part in name and not torch.equal(param, initial[name])
            for name, param in compiled_params.items()), part


def test_label_free_loss_with_a_frozen_teacher_is_one_graph():
    # The teacher runs without gradients, where an adapter conv reads its
    # cached folded weight; the cache's checks (versions, storages) cannot
    # be traced, so a compiled forward folds the weight in the graph.
    ffn_cfg = tsm_r18_cfgs(COUNTS)[0]
    ffn_cfg.update(trainable=('norms', 'adapters'), supervision='none')
    model = build_for_training(ffn_cfg)
    torch.manual_seed(1)
    inputs = torch.randn(2, sum(COUNTS), 3, 32, 32)
    assert compiled_loss_graphs(model, inputs, labelled_samples(2,
                                                                COUNTS)) == 1
    assert not torch._dynamo.utils.counters['graph_break']


def test_compiled_test_forward_equals_eager_at_every_count():
    model = build_for_training(tsm_r18_cfgs(COUNTS)[0]).eval()
    compiled = torch.compile(model, backend='eager')
    torch._dynamo.utils.counters.clear()
    with torch.no_grad():
        for count in COUNTS + (6, ):
            clip = torch.randn(1, count, 3, 32, 32)
            torch.testing.assert_close(
                compiled(clip, mode='tensor', stage='head'),
                model(clip, mode='tensor', stage='head'),
                rtol=1e-5,
                atol=1e-6)
    assert not torch._dynamo.utils.counters['graph_break']
