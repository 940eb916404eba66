"""MMAction2's three packaged TimeSformer recipes (divided, joint, space
only) convert at the default counts (4, 8, 16) and build: one time
embedding per count, in ascending order (a ParameterDict of a plain dict
sorted '16' before '4'), and a forward at each count."""
import glob
import os.path as osp

import mmaction
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

import mmffn  # noqa: F401  (compat fixes before mmaction.models)
from mmffn.apis import frame_flexible_model

pytestmark = pytest.mark.usefixtures('one_thread')
COUNTS = (4, 8, 16)
RECIPES = sorted(
    glob.glob(
        osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition',
            'timesformer', '*.py')))


@pytest.fixture(autouse=True)
def mmaction_scope():
    with DefaultScope.overwrite_default_scope('mmaction'):
        yield


def test_the_three_recipes_are_found():
    assert len(RECIPES) == 3


@pytest.mark.parametrize('path', RECIPES, ids=osp.basename)
def test_every_packaged_recipe_converts_and_builds(path):
    """Built with 1 transformer layer and 32 px (a full ViT-B build takes
    ~3-4 s here), every other argument the recipe's."""
    model = frame_flexible_model(Config.fromfile(path).model, COUNTS)
    backbone = model['backbone']
    assert backbone['type'] == 'TimeSformer_FFN'
    assert model['type'] == 'RecognizerFFN3D'
    model['backbone'] = dict(
        backbone, num_transformer_layers=1, img_size=32, pretrained=None)
    ffn = MODELS.build(model).backbone
    assert ffn.num_segments_list == COUNTS
    if backbone['attention_type'] != 'space_only':
        assert ffn.time_embed.frame_counts == COUNTS
        for count in COUNTS:
            assert ffn.time_embed.branches[str(count)].shape[1] == count
    ffn.eval()
    for count in COUNTS:
        with torch.no_grad(), ffn.frame_count(count):
            out = ffn(torch.randn(1, 3, count, 32, 32))
        assert out.shape == (1, backbone['embed_dims'])
