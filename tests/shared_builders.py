"""Builders shared by test folders (a module with a unique name: test files
import it directly; ``conftest`` is a name several folders use)."""
import torch
from torch.nn.modules.batchnorm import _BatchNorm


def randomise_norms(model: torch.nn.Module, seed: int = 0):
    """Give every BatchNorm (2d and 3d) non-trivial affine values and
    statistics, so that a test comparing outputs notices a norm loaded into
    the wrong place."""
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
