"""Shared helpers of the backbone tests (as fixtures: no test packages)."""
import pytest
import torch
from torch.nn.modules.batchnorm import _BatchNorm


def _randomise_norms(model: torch.nn.Module, seed: int = 0):
    """Give every BatchNorm non-trivial affine values and statistics, so a
    test comparing outputs notices a norm loaded into the wrong place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                n = module.num_features
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_mean.copy_(
                    torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(
                    torch.rand(n, generator=generator) + 0.5)
    return model


@pytest.fixture
def randomise_norms():
    return _randomise_norms
