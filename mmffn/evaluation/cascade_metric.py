"""CascadeMetric: what a cascade test cost, logged beside top-1."""
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

from mmaction.registry import METRICS
from mmengine.evaluator import BaseMetric

__all__ = ['CascadeMetric']


@METRICS.register_module()
class CascadeMetric(BaseMetric):
    """Mean frames, mean backbone GFLOPs per video and the share of videos
    that stopped at each count, from the predictions of a cascade test
    (``test_cfg.cascade``, see ``mmffn.models.recognizers.cascade``).

    Put it beside MMAction2's ``AccMetric``::

        test_evaluator = [dict(type='AccMetric'), dict(type='CascadeMetric')]

    Logged as ``cascade/mean_frames``, ``cascade/mean_gflops`` and
    ``cascade/share_<T>f`` per count. With ``thresholds=None`` (every count
    run on every video) the per-video results stay available as
    :attr:`last_results` for threshold calibration.
    """
    default_prefix: Optional[str] = 'cascade'

    def __init__(self,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.last_results: List[Dict] = []

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'cascade_count' not in sample:
                raise ValueError(
                    'CascadeMetric found a prediction without cascade '
                    'results: the model needs test_cfg.cascade and the test '
                    'loader mmffn.apis.cascade_loader (clips of every '
                    'count), got a prediction at one count')
            result = dict(
                counts=tuple(sample['cascade_counts']),
                count=int(sample['cascade_count']),
                frames=int(sample['cascade_frames']),
                gflops=float(sample['cascade_gflops']),
                label=int(sample['gt_label'].reshape(-1)[0])
                if 'gt_label' in sample else -1)
            if 'cascade_scores' in sample:
                result.update(
                    scores=sample['cascade_scores'].cpu(),
                    count_gflops=sample['cascade_count_gflops'].cpu(),
                    count_frames=sample['cascade_count_frames'].cpu())
            self.results.append(result)

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        self.last_results = list(results)
        total = len(results)
        metrics = OrderedDict(
            mean_frames=sum(r['frames'] for r in results) / total,
            mean_gflops=sum(r['gflops'] for r in results) / total)
        counts = {c for r in results for c in r['counts']}
        for count in sorted(counts):
            metrics[f'share_{count}f'] = sum(r['count'] == count
                                             for r in results) / total
        return metrics
