"""The benchmark scripts still run (tiny sizes; the numbers mean nothing).

Timing ratios are not asserted: a loaded test machine makes them anything.
FLOPs are deterministic, so their equality is.
"""
import json
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = ['--depth', '18', '--size', '32', '--num-classes', '5']


def run_benchmark(script: str, args: list, tmp_path) -> dict:
    """Run ``benchmarks/<script>`` with ``args``; return its JSON results."""
    out = tmp_path / 'results.json'
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'benchmarks', script)] + args +
        ['--json', str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert '\n### ' in '\n' + proc.stdout  # the markdown section
    return json.loads(out.read_text())


@pytest.mark.slow
def test_train_step(tmp_path):
    report = run_benchmark(
        'train_step.py', TINY +
        ['--batch', '1', '--repeats', '2', '--warmup', '1', '--separate'],
        tmp_path)
    results = report['results']
    assert {len(t) for t in results['times'].values()} == {2}
    assert set(results['ratios']) == {'ffn', 'separate'}
    assert results['ratio']['median'] > 0
    assert report['machine']['nproc'] and report['machine']['torch']


@pytest.mark.slow
def test_train_step_with_amp_and_channels_last(tmp_path):
    # bf16 autocast needs mmffn.patches.amp (MMAction2's head accuracies
    # read the scores in numpy). --compile is left out here: compiling
    # takes most of a minute; tests/models/recognizers/
    # test_recognizer_compile.py compiles FFN's training step.
    report = run_benchmark(
        'train_step.py', TINY + [
            '--batch', '1', '--repeats', '2', '--warmup', '1', '--amp', 'bf16',
            '--channels-last'
        ], tmp_path)
    settings = report['settings']
    assert (settings['amp'], settings['channels_last'],
            settings['compile']) == ('bf16', True, False)
    assert {len(t) for t in report['results']['times'].values()} == {2}


@pytest.mark.slow
def test_train_memory(tmp_path):
    report = run_benchmark(
        'train_memory.py',
        TINY + ['--batch', '1', '--repeats', '1', '--steps', '1'], tmp_path)
    peaks = report['results']['peak_bytes']
    assert peaks['ffn'][0] > 0 and peaks['tsm'][0] > 0


@pytest.mark.slow
def test_inference_includes_the_deployed_model(tmp_path):
    report = run_benchmark(
        'inference.py',
        TINY + ['--frames', '4', '6', '--repeats', '2', '--warmup', '1'],
        tmp_path)
    per_frames = report['results']['per_frames']
    assert set(per_frames) == {'4', '6'}
    assert set(per_frames['6']['ratios']) == {'ffn', 'deployed'}


@pytest.mark.slow
def test_inference_under_bf16_autocast_and_channels_last(tmp_path):
    report = run_benchmark(
        'inference.py', TINY + [
            '--frames', '4', '--repeats', '2', '--warmup', '1', '--amp',
            'bf16', '--channels-last'
        ], tmp_path)
    assert report['settings']['amp'] == 'bf16'
    assert set(
        report['results']['per_frames']['4']['ratios']) == {'ffn', 'deployed'}


@pytest.mark.slow
def test_forward_overhead_rows_and_profile(tmp_path):
    """One paired FFN - TSM difference per T at 8 px, the switch times
    and the profile."""
    out = tmp_path / 'results.json'
    proc = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'benchmarks', 'forward_overhead.py')] + [
             '--depth', '18', '--size', '8', '--num-classes', '5', '--frames',
             '4', '6', '--repeats', '2', '--warmup', '1', '--threads', '1',
             '--profile', '--profile-calls', '2', '--profile-top', '5',
             '--json',
             str(out)
         ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [
        line.split('|')[1:-1] for line in proc.stdout.splitlines()
        if line.startswith('| ') and line.split('|')[1].strip().isdigit()
    ]
    # The forward table, then the switch table.
    assert [int(row[0]) for row in rows] == [4, 6, 4, 6], proc.stdout
    assert "FFN's frame-count switch, enter and exit" in proc.stdout
    assert 'cProfile of 2 FFN forwards at 6 frames' in proc.stdout
    per_frames = json.loads(out.read_text())['results']['per_frames']
    assert set(per_frames) == {'4', '6'}
    for result in per_frames.values():
        assert len(result['times']['ffn']) == 2
        assert result['ratio']['median'] > 0
        assert result['switch_us']['hot']['median'] > 0
        assert result['switch_us']['cold']['median'] > 0


@pytest.mark.slow
def test_onnx_inference_rows(tmp_path):
    """One row per T with a positive paired ratio ONNX Runtime / PyTorch
    and the agreement check passed."""
    out = tmp_path / 'results.json'
    proc = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'benchmarks', 'onnx_inference.py')] + TINY + [
             '--frames', '4', '6', '--repeats', '2', '--warmup', '1',
             '--threads', '1', '--json',
             str(out)
         ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [
        line.split('|')[1:-1] for line in proc.stdout.splitlines()
        if line.startswith('| FFN deployed as TSM |')
    ]
    assert [int(row[1]) for row in rows] == [4, 6], proc.stdout
    for row in rows:
        assert float(row[4].split()[0]) > 0, row
        assert row[5].strip().endswith(': ok'), row
    per_frames = json.loads(out.read_text())['results']['per_frames']
    for result in per_frames.values():
        assert result['max_abs_diff'] <= result['allowed']


@pytest.mark.slow
def test_onnx_inference_refuses_cuda():
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'benchmarks', 'onnx_inference.py'), '--device', 'cuda'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert '--device must be cpu' in proc.stderr


@pytest.mark.slow
def test_flops_equal_to_tsm(tmp_path):
    """The counter sees every weight-altered conv as a conv: FFN's FLOPs at
    T are TSM's exactly, also at an untrained T."""
    report = run_benchmark('flops.py', TINY + ['--frames', '4', '6'], tmp_path)
    for frames, result in report['results']['per_frames'].items():
        assert result['flops_ratio'] == 1.0, (frames, result)
        assert result['ffn']['params'] > result['tsm']['params']


@pytest.mark.slow
def test_data_pipeline(tmp_path):
    report = run_benchmark('data_pipeline.py', [
        '--size', '32', '--video-size', '64', '--video-frames', '24',
        '--repeats', '2', '--warmup', '1'
    ], tmp_path)
    shapes = report['results']['shapes']
    assert shapes['tsm'] == [16, 3, 32, 32]
    assert shapes['ffn'] == [28, 3, 32, 32]


@pytest.mark.slow
def test_bad_arguments_are_named(tmp_path):
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'benchmarks', 'train_step.py'), '--batch', '0'
    ],
                          cwd=REPO,
                          capture_output=True,
                          text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert '--batch must be a positive int, got 0' in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize('args, message', [
    (['--amp', 'fp16'], '--amp fp16 needs --device cuda'),
    (['--compile-backend', 'eager'], 'only read with --compile'),
])
def test_speed_options_the_device_cannot_run_are_named(args, message):
    proc = subprocess.run(
        [sys.executable,
         osp.join(REPO, 'benchmarks', 'train_step.py')] + args,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode != 0
    assert message in proc.stderr
