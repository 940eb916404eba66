"""MMAction2's UniFormerV2 made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every norm a copy per frame count: ``ln_pre``, ``ln_1``/``ln_2`` of each
local UniBlock, the BatchNorm3d of its local MHRA (``no_lmhra=False``),
``ln_1``/``ln_2``/``ln_3`` of each global UniBlock and the final ``norm``.
A per-count depthwise 1x1x1 adapter goes in front of each DPE conv
(``transformer.dpe``). The rest (patch conv, attentions, MLPs, tokens,
spatial position embedding, ``balance``) stays shared; state-dict keys stay
the stock ones plus ``branches.<T>`` / ``alteration.<T>``.

What the frame count shapes, read from the stock source: no weight. The
patch conv ``conv1`` has a fixed temporal kernel (``kernel_size`` with
``temporal_downsample``, else 1), the DPE convs are depthwise 3x3x3 and the
local MHRA a depthwise ``(3, 1, 1)`` conv; ``temporal_cls_token`` and
``positional_embedding`` (spatial only) have no time axis. ``t_size`` only
becomes ``transformer.T``, the token frames per clip that the stock forward
uses to split the batch into clips, so the stock model runs at ``t_size``
frames alone (at another length it mixes clips). Here ``transformer.T``
follows the active count, hence any recipe ``t_size``, among the counts or
not, builds and trains, and any count ``>= 1`` runs on the nearest branch.
There is nothing to resample in time, unlike TimeSformer's time embedding.

The frame count is the number of input frames, as MMAction2's recipes
sample them (``t_size=num_frames``) and as for UniFormer (v1). With
``temporal_downsample=True`` the patch conv (temporal stride 2, padding
``(kernel_size - 1) // 2``) turns ``T`` frames into ``ceil(T / 2)`` token
frames; the stock class assumes ``t_size // 2``, so there an odd count runs
here but has no stock equivalent (every shipped recipe has
``temporal_downsample=False``).
"""
from typing import Any, Dict, Tuple

from mmaction.models.backbones.uniformerv2 import Transformer, UniFormerV2
from mmaction.registry import MODELS

from ...utils import check_frame_count
from ..layers import RateSpecificModule, weight_altered_conv
from .frame_flexible_3d import FrameFlexible3DMixin
from .stock_arguments import stock_argument

__all__ = ['UniFormerV2_FFN']


class _LayerNormCopies(RateSpecificModule):
    """Per-count LayerNorm copies showing the active copy's ``weight``: the
    stock global UniBlock reads its width from ``ln_1.weight``."""

    @property
    def weight(self):
        return self.branch().weight


@MODELS.register_module()
class UniFormerV2_FFN(FrameFlexible3DMixin, UniFormerV2):
    """:class:`mmaction.models.UniFormerV2` with FFN's rate-specific norms
    and weight alteration.

    Arguments: those of :class:`UniFormerV2` (``input_resolution``,
    ``width``, ``layers``, ``t_size``, ``clip_pretrained``, ``pretrained``,
    ...) and the keyword-only FFN arguments of :class:`FrameFlexibleMixin`;
    the counts are input frames. ``t_size`` is the stock model's one count,
    not a trained count (see the module doc).

    Initialisation is the stock one, run on a stock twin and copied into
    every per-count copy: with ``clip_pretrained=True`` the twin loads and
    inflates the CLIP encoder that ``pretrained`` names (``'ViT-B/16'``,
    ...); without it the stock ``init_cfg`` applies (a ``Pretrained``
    ``init_cfg`` loads a stock checkpoint into the twin), then
    ``pretrained``, a UniFormerV2 checkpoint (stock or FFN), fills every
    branch.
    """
    # The DPE conv is the only layer of a global UniBlock reading features
    # that no norm has scaled (the local block's output): a per-count scale
    # of each channel's 3x3x3 positional kernel, whose temporal taps span
    # 4x more time at 4 frames than at 16, as UniFormer's pos_embed. The
    # global blocks' attention and MLPs start with a LayerNorm and the
    # local MHRA with a BatchNorm, whose per-count affine would absorb an
    # adapter; the local blocks otherwise start with ln_1. ``dpe`` is a
    # list (one conv per global block): _add_weight_alteration alters each.
    adapter_sites = ((Transformer, 'dpe'), )
    pretrained_kinds = 'a UniFormerV2 checkpoint (stock or FFN)'

    @property
    def pretrained2d(self) -> bool:
        """Whether the stock init inflates a 2D model (the CLIP ViT named
        by ``pretrained``), which the stock twin then does."""
        return self.clip_pretrained

    def _stock_arguments(self, args: tuple, kwargs: Dict[str, Any],
                         counts: Tuple[int, ...],
                         default: int) -> Tuple[tuple, Dict[str, Any]]:
        check_frame_count(
            stock_argument(UniFormerV2, args, kwargs, 't_size'), 't_size')
        return super()._stock_arguments(args, kwargs, counts, default)

    def _add_weight_alteration(self, branch: int) -> None:
        dpe = self.transformer.dpe
        for index, conv in enumerate(dpe):
            dpe[index] = weight_altered_conv(
                conv,
                self.num_segments_list,
                init_std=self.alteration_init_std,
                active=branch)

    def _make_frame_flexible(self, counts, default, *args, **kwargs) -> None:
        super()._make_frame_flexible(counts, default, *args, **kwargs)
        # Same copies, a class that shows ``weight``: the state and the
        # collected frame modules stay valid.
        for block in self.transformer.dec:
            if type(block.ln_1) is RateSpecificModule:
                block.ln_1.__class__ = _LayerNormCopies

    def token_frames(self, count: int) -> int:
        """Token frames per clip after the patch conv at ``count`` input
        frames: ``count``, or ``ceil(count / 2)`` with
        ``temporal_downsample``."""
        kernel, stride = self.conv1.kernel_size[0], self.conv1.stride[0]
        return (count + 2 * self.conv1.padding[0] - kernel) // stride + 1

    def _set_frame_count(self, num_frames: int):
        # The stock forward splits tokens into clips by transformer.T.
        previous = super()._set_frame_count(num_frames)
        state = vars(self.transformer)
        previous.append((self.transformer, 'T', state['T']))
        state['T'] = self.token_frames(num_frames)
        return previous
