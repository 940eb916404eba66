"""MMAction2's Video Swin Transformer made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every LayerNorm a copy per frame count: the patch embedding's norm, the two
pre-norms of every :class:`SwinTransformerBlock3D`, the norm of every
:class:`PatchMerging` and the output norms ``norm<i>``. Linear layers, the
patch embedding conv and the relative position bias tables stay shared;
state-dict keys stay the stock ones plus ``branches.<T>``.

The frame count ``T`` is the number of input frames. The patch embedding
(stride ``patch_size[0]``, 2 in every packaged config, the clip padded at
the end to a multiple) gives ``ceil(T / patch_size[0])`` token frames ``D``,
which every stage keeps (patch merging is spatial only).

What depends on ``D``, and why nothing is specialised per count:

* the temporal window: ``get_window_size`` clips it to ``D`` when ``D <=
  window_size[0]`` (and turns the temporal shift off); 4/8/16 frames give
  ``D = 2/4/8 <= 8`` under the packaged ``(8, 7, 7)`` windows, so each count
  attends over all of its token frames, as the stock model does at ``T``;
* the relative position bias table, ``(2 Wd - 1)(2 Wh - 1)(2 Ww - 1)`` rows,
  is shaped by the window, not by the count. The index is ordered by time
  first, so for a clipped window of ``d`` frames its top-left
  ``d Wh Ww`` square (what ``WindowAttention3D`` reads) addresses exactly the
  rows of the temporal offsets ``-(d - 1) .. d - 1``: the table of a window
  of ``d`` frames. Every count reads its own offsets of one shared table and
  none reads a resampled one, so MMAction2 already serves any ``T``.

A count therefore needs only its norms; any ``T >= 1`` runs on any branch
and a stock ``SwinTransformer3D`` at ``T`` frames is the branch deployed.

No adapters (``weight_alteration`` must stay False): FFN's adapter is a
per-channel scale in front of a block's first layer; every block here
starts with a LayerNorm (``norm1`` before ``attn.qkv``, ``norm2`` before
``mlp.fc1``, ``PatchMerging.norm`` before ``reduction``) whose per-count
affine already is one. The only conv is the patch embedding, which reads
the RGB frames, whose statistics do not depend on the count.
"""
from mmaction.models.backbones.swin import SwinTransformer3D
from mmaction.registry import MODELS

from .frame_flexible_3d import FrameFlexible3DMixin
from .stock_arguments import with_stock_argument

__all__ = ['SwinTransformer3D_FFN']


@MODELS.register_module()
class SwinTransformer3D_FFN(FrameFlexible3DMixin, SwinTransformer3D):
    """:class:`mmaction.models.SwinTransformer3D` with FFN's rate-specific
    LayerNorms.

    Arguments: those of :class:`SwinTransformer3D` (``arch``,
    ``pretrained``, ``pretrained2d``, ``window_size``, ...), positional ones
    included, and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`; the counts are input frames.
    ``weight_alteration`` must stay False (see the module doc).

    Initialisation is the stock one, run on a stock twin and copied into
    every per-count copy: with ``pretrained2d=True`` (the configs' setting)
    ``pretrained`` names a 2D Swin checkpoint that the twin inflates; with
    ``pretrained2d=False`` the stock ``init_cfg`` applies, then
    ``pretrained``, a Video Swin checkpoint (stock or FFN), fills every
    branch. Without ``pretrained`` the stock ``init_cfg`` applies whatever
    ``pretrained2d`` says (the stock class would try to inflate ``None``).
    """
    pretrained_kinds = 'a Video Swin checkpoint (stock or FFN)'

    def _init_from_stock(self, pretrained) -> None:
        """Without a checkpoint the twin gets ``pretrained2d=False``, so
        that its ``init_weights`` runs ``init_cfg`` instead of inflating a
        missing 2D file."""
        if pretrained is not None:
            return super()._init_from_stock(pretrained)
        stock = self._stock_args, self._stock_kwargs
        self._stock_args, self._stock_kwargs = with_stock_argument(
            SwinTransformer3D, *stock, 'pretrained2d', False)
        try:
            super()._init_from_stock(None)
        finally:
            self._stock_args, self._stock_kwargs = stock
