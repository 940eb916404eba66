"""A video dataset read from a list of files, without labels."""
import os.path as osp
from typing import List

from mmaction.datasets import VideoDataset
from mmaction.registry import DATASETS
from mmengine.fileio import exists, list_from_file
from mmengine.logging import MMLogger

__all__ = ['UnlabeledVideoDataset']


@DATASETS.register_module()
class UnlabeledVideoDataset(VideoDataset):
    """MMAction2's ``VideoDataset`` for data that needs no labels (label-free
    conversion of a checkpoint): the list names one video per line.

    A line's first field (up to ``delimiter``) is the file; an MMAction2
    list with labels is accepted too, its labels not read (logged once). The
    samples carry no ``gt_label``, so anything that reads one fails, and
    it refuses ``test_mode=True`` (a validation or test set).

    Args:
        ann_file (str): The list of videos.
        **kwargs: As :class:`VideoDataset` (``pipeline``, ``data_prefix``,
            ``delimiter``, ...); ``multi_class`` must stay False.
    """

    def load_data_list(self) -> List[dict]:
        if self.test_mode:
            # Its samples carry no gt_label, which every accuracy metric
            # reads (a bare KeyError: 'gt_label' otherwise).
            raise ValueError(
                f'UnlabeledVideoDataset ({self.ann_file}) has no labels, so '
                'it cannot be a validation or test set (test_mode=True): '
                'the evaluator reads gt_label. Use VideoDataset with a '
                'labelled list ("path label" per line) in val_dataloader / '
                'test_dataloader.')
        if self.multi_class:
            raise ValueError('UnlabeledVideoDataset reads no labels, so '
                             'multi_class=True has no meaning for it.')
        exists(self.ann_file)
        videos, with_labels = [], 0
        for line in list_from_file(self.ann_file):
            fields = line.strip().split(self.delimiter)
            if not fields[0]:
                continue
            with_labels += len(fields) > 1
            videos.append(fields[0])
        if not videos:
            raise ValueError(f'The video list {self.ann_file} names no video;'
                             ' expected one file per line.')
        if with_labels:
            MMLogger.get_current_instance().info(
                f'{self.ann_file}: {with_labels} of {len(videos)} lines carry '
                'more than a file name (labels); only the file is read.')
        prefix = self.data_prefix['video']
        return [dict(filename=osp.join(prefix, video)) for video in videos]
