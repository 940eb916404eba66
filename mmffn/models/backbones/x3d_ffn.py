"""MMAction2's X3D made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every BatchNorm3d (the stem's temporal conv, the three convs of each block,
the downsample, ``conv5``) a copy per frame count and puts a per-count
depthwise 1x1x1 adapter in front of ``conv1`` of every :class:`BlockX3D`.
Convs, SE modules and the head stay shared; state-dict keys stay the stock
ones plus ``branches.<T>`` / ``alteration.<T>``.

X3D has no temporal stride and no weight shaped by the frame count: the
input clip has ``T`` frames for the count ``T`` (``input_frames`` is the
mixin's) and any ``T >= 1`` runs.
"""
from mmaction.models.backbones.x3d import X3D, BlockX3D
from mmaction.registry import MODELS

from .frame_flexible_3d import FrameFlexible3DMixin

__all__ = ['X3D_FFN']


@MODELS.register_module()
class X3D_FFN(FrameFlexible3DMixin, X3D):
    """:class:`mmaction.models.X3D` with FFN's rate-specific norms and weight
    alteration.

    X3D is a plain ``nn.Module`` with its own ``init_weights`` (Kaiming
    convs, constant norms, ``zero_init_residual`` zeroing ``conv3.bn`` of
    each block through the attribute, which a per-count norm does not
    have): :class:`FrameFlexible3DMixin` runs it on a stock twin and copies
    the result into every per-count copy.

    Arguments: those of :class:`X3D` (``gamma_w``, ``gamma_b``,
    ``gamma_d``, ``pretrained``, ...) and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`.
    """
    # conv1 is the 1x1x1 expansion conv, the only conv reading the block
    # input: the place of FFN's adapter in a bottleneck. An adapter on the
    # depthwise conv2 would scale the output of conv1's per-count BN (and
    # ReLU, which commutes with a positive scale), so the per-count BN
    # affine could absorb it; and folding into a 1x1x1 weight is cheap.
    adapter_sites = ((BlockX3D, 'conv1'), )
    pretrained_kinds = 'an X3D checkpoint (stock or FFN)'
