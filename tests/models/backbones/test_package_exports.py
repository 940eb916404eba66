"""Every registered FFN class is importable from its package and from
``mmffn.models``, and every package lists it in ``__all__``."""
import importlib

import pytest
from mmaction.registry import MODELS

import mmffn  # noqa: F401  (compat fixes before mmaction.models)

EXPORTS = {
    'mmffn.models.backbones': [
        'ResNetTSM_FFN', 'MobileNetV2TSM_FFN', 'TANet_FFN', 'ResNet3d_FFN',
        'ResNet3dSlowOnly_FFN', 'ResNet3dSlowFast_FFN', 'X3D_FFN',
        'UniFormer_FFN', 'TimeSformer_FFN'
    ],
    'mmffn.models.recognizers': ['RecognizerFFN', 'RecognizerFFN3D'],
    'mmffn.models.losses': ['TemporalKLLoss', 'TemporalDistillationLoss'],
    'mmffn.models.layers': ['RateSpecificBatchNorm'],
}


@pytest.mark.parametrize('package', list(EXPORTS))
def test_registered_classes_are_exported(package):
    module = importlib.import_module(package)
    models = importlib.import_module('mmffn.models')
    for name in EXPORTS[package]:
        assert name in module.__all__, (package, name)
        assert name in models.__all__, name
        assert getattr(models, name) is getattr(module, name)
        assert MODELS.get(name) is getattr(module, name)


def test_all_names_exist():
    models = importlib.import_module('mmffn.models')
    for name in models.__all__:
        assert hasattr(models, name), name
    assert len(set(models.__all__)) == len(models.__all__)
