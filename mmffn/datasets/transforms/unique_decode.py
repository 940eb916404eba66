"""Decode each distinct frame of a multi-rate sample once."""
import numpy as np
from mmaction.datasets.transforms import DecordDecode
from mmaction.registry import TRANSFORMS

__all__ = ['UniqueDecordDecode']


@TRANSFORMS.register_module()
class UniqueDecordDecode(DecordDecode):
    """``DecordDecode`` that decodes repeated frame indices only once.

    The samplings of several frame counts share many frames (the 16-frame
    and 8-frame segment centres often coincide). This decodes the distinct
    indices, in increasing order, and expands them back to the requested
    order; the output equals ``DecordDecode``'s frame for frame.

    Required Keys:

        - video_reader
        - frame_inds

    Added Keys:

        - imgs
        - original_shape
        - img_shape

    Args:
        mode (str): As ``DecordDecode``: ``'accurate'`` or ``'efficient'``.
    """

    def _decord_load_frames(self, container, frame_inds: np.ndarray):
        unique, inverse = np.unique(frame_inds, return_inverse=True)
        frames = super()._decord_load_frames(container, unique)
        return [frames[i] for i in inverse.reshape(-1)]
