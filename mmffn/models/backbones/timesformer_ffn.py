"""TimeSformer_FFN: MMAction2's TimeSformer made frame flexible.

The stock class builds the structure; :class:`FrameFlexible3DMixin` gives
every LayerNorm a copy per frame count: the pre-norms of the temporal and
spatial attentions and of the FFN (``divided_space_time``), the norms of
``BaseTransformerLayer`` (``space_only``, ``joint_space_time``) and the
final ``norm``. Patch embedding, attention and FFN weights, ``pos_embed``
and ``cls_token`` stay shared.

Time embedding, the only weight shaped by the frame count (``(1, T, D)``):
one learnable embedding per trained count ``T`` (keys
``time_embed.branches.<T>``), not one shared embedding interpolated to each
count. Reasons: the clips of every count span the same time, so position
``i`` of ``T`` means time ``i / (T - 1)`` of the clip and an interpolated
embedding is a sound start, but neighbouring frames are 4 times further
apart at 4 frames than at 16, so what the temporal attention should learn
from a position differs per count; FFN's finding is that such count-specific
statistics want private parameters (as its norms), and one interpolated
embedding would tie the 4-frame positions to interpolations of the 16-frame
ones. The cost is negligible: ``(sum(counts) - num_frames)
* D`` parameters, 15,360 for ViT-B (D=768) at counts (4, 8, 16) and
``num_frames=8``, 0.013% of its 121M. Each per-count embedding starts as
the interpolated design would: the stock ``(1, num_frames, D)`` embedding
resampled linearly in time to ``T`` (``F.interpolate``, ``align_corners=True``:
first and last positions kept, see :func:`resample_frames`); at
``T == num_frames`` it is the stock embedding itself. A stock checkpoint
fills each count the same way. A count ``T'`` that was not trained uses the
nearest trained branch ``T`` (norms and embedding) with that embedding
resampled to ``T'`` the same way, at every forward (gradients reach the
branch). The stock MMAction2 forward adds ``time_embed`` as is, so it
only runs at ``num_frames``; the original TimeSformer interpolates with
``'nearest'``; linear keeps the embedding smooth in time and matches
:class:`RateSpecificModule`'s resampling (TANet_FFN).

No adapters (``weight_alteration`` must stay False): FFN's adapter is a
per-channel scale in front of a block's first layer, and every block here
starts with a LayerNorm whose per-count affine already is one (an adapter
after it, on the qkv or FFN Linear, would be absorbed by it). The only conv
is the patch embedding, whose input is the RGB frames: their statistics do
not depend on the count.

The frame count is the number of input frames (the patch embedding is
2D, one frame at a time), and every count ``>= 1`` runs.
"""
import re
from typing import Any, Dict, Optional, Tuple

import torch
from einops import rearrange
from mmaction.models.backbones.timesformer import TimeSformer
from mmaction.registry import MODELS
from mmengine.runner.checkpoint import _load_checkpoint

from ...utils import check_frame_count
from ..layers import RateSpecificTimeEmbedding, resample_frames
from .frame_flexible_3d import FrameFlexible3DMixin
from .stock_arguments import stock_argument, with_stock_argument

__all__ = ['TimeSformer_FFN']

_TIME_EMBED_KEY = re.compile(r'time_embed\.branches\.\d+')


def _holds_time_embedding(filename: str) -> bool:
    """Whether a checkpoint has a TimeSformer time embedding (stock or
    FFN), unlike the ImageNet ViT checkpoints the stock ``pretrained``
    converts."""
    checkpoint = _load_checkpoint(filename, map_location='cpu')
    if isinstance(checkpoint, dict):
        checkpoint = checkpoint.get('state_dict', checkpoint)
    return any(
        re.search(r'(^|\.)time_embed($|\.branches\.)', str(key))
        for key in checkpoint)


@MODELS.register_module()
class TimeSformer_FFN(FrameFlexible3DMixin, TimeSformer):
    """:class:`mmaction.models.TimeSformer` with FFN's rate-specific
    LayerNorms and per-count time embeddings.

    Takes the arguments of :class:`TimeSformer` as the stock class does,
    positional ones included (``TimeSformer_FFN(8, 64, 16)``: ``num_frames,
    img_size, patch_size``), and the keyword-only FFN arguments of
    :class:`FrameFlexibleMixin`. ``num_frames`` is the length of the stock
    time embedding (that of a stock checkpoint), not a trained count: the
    branch of that count, if trained, is exactly the stock model; it
    defaults to the highest trained count. ``weight_alteration`` must stay
    False (no adapter site, see the module doc).

    Initialisation is the stock one, run on a stock twin (``num_frames``
    frames) and copied into every per-count copy, the time embedding
    resampled to each count. ``pretrained`` may be what the stock takes (an
    ImageNet ViT in MMAction2's names, converted by the stock
    ``init_weights``) or a checkpoint holding a time embedding (a
    TimeSformer or TimeSformer_FFN, plain or a recognizer's), loaded by
    :meth:`load_pretrained` (the stock conversion would overwrite its
    spatial attentions with its temporal ones).
    """
    pretrained_kinds = 'a TimeSformer checkpoint (stock or FFN)'

    def _stock_arguments(self, args: tuple, kwargs: Dict[str, Any],
                         counts: Tuple[int, ...],
                         default: int) -> Tuple[tuple, Dict[str, Any]]:
        num_frames = stock_argument(TimeSformer, args, kwargs, 'num_frames')
        num_frames = counts[-1] if num_frames is None else check_frame_count(
            num_frames, 'num_frames')
        args, kwargs = with_stock_argument(TimeSformer, args, kwargs,
                                           'num_frames', num_frames)
        return super()._stock_arguments(args, kwargs, counts, default)

    def _before_conversion(self, counts: Tuple[int, ...],
                           default: int) -> None:
        """The time embedding made per count, so that frame-count switching
        finds it."""
        if self.attention_type != 'space_only':
            stock = self.time_embed
            del self.time_embed
            self.time_embed = RateSpecificTimeEmbedding(stock, counts)

    def _frame_modules(self):
        # The backbone and the divided attentions hold the count as
        # ``num_frames`` (to split tokens into frames): it follows the count.
        if self._frame_module_cache is None:
            generic = super()._frame_modules()
            self._frame_module_cache = generic + tuple(
                (module, 'num_frames', 'frames') for module in self.modules()
                if isinstance(vars(module).get('num_frames'), int))
        return self._frame_module_cache

    def _resize_pretrained(self, key: str, tensor: torch.Tensor,
                           shape: torch.Size) -> Optional[torch.Tensor]:
        """A stock ``(1, L, D)`` time embedding resampled to the ``(1, T,
        D)`` of a branch, as at construction."""
        if (_TIME_EMBED_KEY.fullmatch(key) and tensor.dim() == 3
                and tensor.shape[::2] == shape[::2]):
            return resample_frames(tensor, shape[1], dim=1)
        return None

    def init_weights(self) -> None:
        """The stock init on a stock twin, copied into every per-count
        copy, then ``pretrained`` (see the class doc)."""
        pretrained = getattr(self, 'pretrained', None)
        if pretrained is not None and not isinstance(pretrained, str):
            raise TypeError('pretrained must be a str or None, got '
                            f'{type(pretrained).__name__}')
        if pretrained and _holds_time_embedding(pretrained):
            self._init_from_stock(None)
            self.load_pretrained(pretrained)
        else:
            self._init_from_stock(pretrained or None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stock forward at the active count; the time embedding is
        the active branch's (resampled for an untrained count).

        Args:
            x (torch.Tensor): Clips ``(N, C, T, H, W)``, ``T`` the active
                count.

        Returns:
            torch.Tensor: The class token ``(N, embed_dims)``.
        """
        self._check_input(x)
        batches = x.shape[0]
        x = self.patch_embed(x)
        cls_tokens = self.cls_token.expand(x.size(0), -1, -1)
        x = torch.cat((cls_tokens, x), dim=1)
        x = x + self.pos_embed
        x = self.drop_after_pos(x)
        if self.attention_type != 'space_only':
            cls_tokens = x[:batches, 0, :].unsqueeze(1)
            x = rearrange(x[:, 1:, :], '(b t) p m -> (b p) t m', b=batches)
            x = self.time_embed(x)
            x = self.drop_after_time(x)
            x = rearrange(x, '(b p) t m -> b (p t) m', b=batches)
            x = torch.cat((cls_tokens, x), dim=1)
        x = self.transformer_layers(x, None, None)
        if self.attention_type == 'space_only':
            x = x.view(-1, self._frame_count, *x.size()[-2:])
            x = torch.mean(x, 1)
        x = self.norm(x)
        return x[:, 0]

    def parameter_overhead(self) -> Dict[str, int]:
        """The mixin's count plus ``time_embedding``: the per-count
        embeddings beyond the stock one."""
        overhead = super().parameter_overhead()
        embedding = getattr(self, 'time_embed', None)
        extra = 0
        if isinstance(embedding, RateSpecificTimeEmbedding):
            extra = sum(p.numel() for p in embedding.branches.values())
            extra -= self._stock_value('num_frames') * self.embed_dims
        total = overhead.pop('total') + extra
        return dict(overhead, time_embedding=extra, total=total)
