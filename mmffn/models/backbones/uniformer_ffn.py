"""MMAction2's UniFormer (v1) made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every norm a copy per frame count: the BatchNorm3d of the conv blocks
(``CBlock``) and the final ``norm``, the LayerNorms of the attention blocks
(``SABlock``) and of the four patch embeddings. A per-count depthwise
1x1x1 adapter goes in front of ``pos_embed`` of every block. Convs, linear
layers and the head stay shared; state-dict keys stay the stock ones plus
``branches.<T>`` / ``alteration.<T>``.

Nothing has a frame-count shape (the positional encoding is a depthwise
3x3x3 conv), so any count runs on any branch. The frame count is the
number of input frames (MMAction2's UniFormer configs read 16 frames): the
stem, a 3x4x4 conv with temporal stride 2 and padding 1, turns ``T``
frames into ``ceil(T / 2)`` token frames, later stages keep that length.
Every ``T >= 1`` is valid; for an odd ``T`` the stem's last window reads
one zero-padded frame, as the stock UniFormer does.
"""
from mmaction.models.backbones.uniformer import CBlock, SABlock, UniFormer
from mmaction.registry import MODELS

from .frame_flexible_3d import FrameFlexible3DMixin

__all__ = ['UniFormer_FFN']


@MODELS.register_module()
class UniFormer_FFN(FrameFlexible3DMixin, UniFormer):
    """:class:`mmaction.models.UniFormer` with FFN's rate-specific norms and
    weight alteration.

    Initialisation is the stock one, run on a stock twin and copied into
    every per-count copy: with ``pretrained2d=True`` (the stock default)
    ``pretrained`` names an ImageNet model of the stock ``_MODELS`` that the
    twin inflates, and ``pretrained=None`` keeps PyTorch's default init as
    the stock does; with ``pretrained2d=False`` the stock ``init_cfg``
    (truncated-normal Linear, constant LayerNorm) applies, then
    ``pretrained``, a UniFormer checkpoint (stock or FFN), fills every
    branch.

    Arguments: those of :class:`UniFormer` (``depth``, ``embed_dim``,
    ``head_dim``, ``pretrained``, ``pretrained2d``, ...) and the
    keyword-only FFN arguments of :class:`FrameFlexibleMixin`; the counts
    are input frames.
    """
    # pos_embed is the only conv of a block that reads the block input.
    # The first layer of each residual path after it (CBlock's conv1,
    # SABlock's qkv Linear) reads the output of norm1, whose per-count
    # affine already scales each channel per count: an adapter there would
    # add nothing. On the depthwise pos_embed the adapter is a per-count
    # scale of each channel's positional kernel, folded into its weight.
    adapter_sites = ((CBlock, 'pos_embed'), (SABlock, 'pos_embed'))
    pretrained_kinds = 'a UniFormer checkpoint (stock or FFN)'
