"""Peer of MMAction2's ``tests/models/backbones/test_tanet.py``.

The upstream TANet cases (depth 18 refused, depth 50 built of TA-blocks
around Bottlenecks, TAM sizes, output shapes at 64 and 32 px) are run again
against ``TANet_FFN`` (``pretrained=None``, nothing downloaded). The FFN
backbone must refuse and build the same structures and give the same shapes
at every trained count.
"""
import pytest
import torch
from mmaction.models.backbones.resnet import Bottleneck
from mmaction.models.backbones.tanet import TABlock
from mmaction.models.common import TAM

import mmffn  # noqa: F401  (registers mmffn modules, applies compat fixes)
from mmffn.models.backbones import TANet_FFN

pytestmark = pytest.mark.usefixtures('one_thread')


def demo_frames(num_frames, size, seed=0):
    """Random frames in [0, 1), like upstream's backbone demo inputs."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(num_frames, 3, size, size, generator=gen)


def test_depth_18_is_refused():
    # TA-Blocks are only based on Bottleneck blocks.
    with pytest.raises(NotImplementedError):
        TANet_FFN(18, num_segments_list=(4, 8), pretrained=None)


def test_tanet_50_structure_and_shapes():
    tanet_50 = TANet_FFN(
        50, num_segments_list=(4, 8), num_segments=8, pretrained=None)
    tanet_50.init_weights()
    for layer_name in tanet_50.res_layers:
        layer = getattr(tanet_50, layer_name)
        for block in layer.children():
            assert isinstance(block, TABlock)
            assert isinstance(block.block, Bottleneck)
            assert isinstance(block.tam, TAM)
            assert block.tam.num_segments == block.num_segments
            assert block.tam.in_channels == block.block.conv1.out_channels

    # Upstream: 8 frames at 64 px (one 8-frame clip) and 16 at 32 px.
    tanet_50.eval()
    with torch.no_grad():
        feat = tanet_50(demo_frames(8, 64))
        assert feat.shape == torch.Size([8, 2048, 2, 2])
        feat = tanet_50(demo_frames(16, 32))
        assert feat.shape == torch.Size([16, 2048, 1, 1])
        # The same at the other trained count and an untrained one.
        for count in (4, 6):
            with tanet_50.frame_count(count):
                for block in tanet_50.layer3.children():
                    assert block.num_segments == count
                    assert block.tam.num_segments == count
                feat = tanet_50(demo_frames(2 * count, 32))
            assert feat.shape == torch.Size([2 * count, 2048, 1, 1])
            assert torch.isfinite(feat).all()
