"""read_config_literals: a config text read as data, never executed."""
from mmengine.config import Config

from mmffn.utils.config_literals import read_config_literals

# What MMEngine writes into meta['cfg'] (Config.pretty_text): dict() calls,
# lists, tuples, negative numbers, None and booleans.
CFG = dict(
    model=dict(
        type='Recognizer2D',
        backbone=dict(type='ResNetTSM', depth=50, num_segments=8, shift_div=8),
        cls_head=dict(type='TSMHead', dropout_ratio=0.5, init_std=-0.001)),
    train_pipeline=[dict(type='SampleFrames', clip_len=1, num_clips=8)],
    img_norm=(123.675, 116.28, 103.53),
    load_from=None,
    find_unused=False)


def test_pretty_text_reads_as_mmengine_reads_it():
    text = Config(CFG).pretty_text
    assert 'dict(' in text  # the dict() call form, not only {} literals
    read = read_config_literals(text)
    assert read == Config.fromstring(text, '.py').to_dict()
    assert read['model']['backbone']['num_segments'] == 8
    assert read['model']['cls_head']['init_std'] == -0.001


def test_nothing_in_the_text_runs(tmp_path):
    marker = tmp_path / 'ran'
    text = '\n'.join([
        'import os',
        f"os.system('touch {marker}')",
        f"open('{marker}', 'w').write('x')",
        f"model = dict(backbone=dict(num_segments=__import__('os').system("
        f"'touch {marker}')))",
        "frames = eval('8')",
        'depth = 2 ** 3',
        'count = 4',
    ])
    read = read_config_literals(text)
    assert not marker.exists()
    # Only the plain literal survives; every computed value is left out.
    assert read == {'count': 4}


def test_text_that_is_not_python_reads_as_nothing():
    assert read_config_literals('model = dict(') == {}
    assert read_config_literals('a = 1\x00') == {}
    assert read_config_literals('') == {}


def test_unpacking_and_positional_dict_calls_are_not_data():
    text = 'a = dict(**b)\nc = dict([(1, 2)])\nd = {**e}\nf = -True\ng = 1'
    assert read_config_literals(text) == {'g': 1}
