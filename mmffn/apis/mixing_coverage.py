"""Which recognition configs of the installed MMAction2 mix with FFN.

Every config packaged with MMAction2 under ``configs/recognition/<family>/``
is converted by :func:`frame_flexible_model` and the result built with
MMAction2's registry, as a user's mixing config would be. A config that does
not mix gets the error that stopped it as its reason.
"""
import contextlib
import gc
import glob
import os.path as osp
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple
from unittest import mock

import torch

from ..models.recognizers.count_support import CountsNotSupported
from ..utils import check_frame_counts
from .model_config import frame_flexible_model

__all__ = [
    'CoverageRow', 'packaged_recognition_configs', 'check_mixing',
    'mixing_coverage', 'coverage_table'
]


class CoverageRow(NamedTuple):
    """The result for one config.

    Attributes:
        family (str): Its folder under ``configs/recognition`` (``tsm``).
        config (str): Its file name.
        mixes (bool): Whether it converts and its FFN model builds.
        stage (str): ``'mixes'``, or where it stopped: ``'load'`` (the
            config itself), ``'convert'`` or ``'build'``.
        reason (str): The first line of the error; empty when it mixes at
            the counts asked for.
        counts (tuple[int]): The counts it mixes at: those asked for, or
            where the recipe cannot run them (the error in ``reason``),
            the same ratios scaled into its range (I3D's 32-frame recipes:
            8, 16, 32; TPN-TSM: 2, 4, 8). Empty when it does not mix.
    """
    family: str
    config: str
    mixes: bool
    stage: str
    reason: str = ''
    counts: Tuple[int, ...] = ()


def packaged_recognition_configs(root: Optional[str] = None) -> List[str]:
    """The recognition configs packaged with the installed MMAction2
    (``<root>/<family>/*.py``, sorted), or those under ``root``."""
    if root is None:
        import mmaction
        root = osp.join(
            osp.dirname(mmaction.__file__), '.mim', 'configs', 'recognition')
    paths = sorted(glob.glob(osp.join(root, '*', '*.py')))
    if not paths:
        raise FileNotFoundError(
            f'No recognition config (<family>/*.py) under {root}')
    return paths


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f'{type(error).__name__}: {lines[0] if lines else ""}'


# The random initialisers of torch.nn.init, which the constructors of
# Linear, Conv and most backbones call; what a build spends most time on.
_INITIALISERS = ('uniform_', 'normal_', 'trunc_normal_', 'kaiming_uniform_',
                 'kaiming_normal_', 'xavier_uniform_', 'xavier_normal_',
                 'orthogonal_')


@contextlib.contextmanager
def _random_init_skipped() -> Iterator[None]:
    """torch.nn.init's random initialisers leave tensors as allocated: the
    same modules and shapes are built, the values are not drawn."""
    with contextlib.ExitStack() as stack:
        for name in _INITIALISERS:
            stack.enter_context(
                mock.patch.object(torch.nn.init, name, lambda t, *a, **k: t))
        yield


def check_mixing(path: str,
                 frame_counts: Sequence[int],
                 skip_random_init: bool = False) -> CoverageRow:
    """Convert the model of one config to FFN and build it.

    Args:
        path (str): An MMAction2 recognition config.
        frame_counts (Sequence[int]): Trained counts of the FFN model.
        skip_random_init (bool): Build without drawing the random initial
            values of ``torch.nn.init`` (same modules and shapes, about 2.5x
            faster for ViT-L models). Defaults to False.

    Returns:
        CoverageRow: Whether it mixes, else the stage and reason.
    """
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    family = osp.basename(osp.dirname(path))
    name = osp.basename(path)
    stage = 'load'
    counts, unsupported = tuple(frame_counts), ''
    try:
        cfg = Config.fromfile(path)
        init_default_scope(cfg.get('default_scope', 'mmaction'))
        for _ in range(2):  # the counts asked for, else the suggested ones
            stage = 'convert'
            model_cfg = frame_flexible_model(cfg.model, counts)
            stage = 'build'
            try:
                with (_random_init_skipped()
                      if skip_random_init else contextlib.nullcontext()):
                    model = MODELS.build(model_cfg)
                del model
                break
            except CountsNotSupported as error:
                if unsupported:
                    raise
                unsupported = _first_line(error)
                counts = error.suggested
    except Exception as error:  # the reason is the report
        return CoverageRow(family, name, False, stage, _first_line(error))
    finally:
        gc.collect()
    return CoverageRow(family, name, True, 'mixes', unsupported, counts)


def mixing_coverage(frame_counts: Sequence[int] = (4, 8, 16),
                    paths: Optional[Sequence[str]] = None,
                    skip_random_init: bool = False) -> List[CoverageRow]:
    """:func:`check_mixing` for each config (default: every packaged
    recognition config)."""
    counts = check_frame_counts(frame_counts, 'frame_counts')
    if paths is None:
        paths = packaged_recognition_configs()
    return [check_mixing(path, counts, skip_random_init) for path in paths]


def coverage_table(rows: Sequence[CoverageRow]) -> str:
    """A Markdown table per family (configs, how many mix), the total, and
    each config that does not mix with its reason."""
    families = {}
    for row in rows:
        families.setdefault(row.family, []).append(row)
    lines = ['| family | configs | mix |', '|---|---:|---:|']
    for family, group in sorted(families.items()):
        lines.append(f'| {family} | {len(group)} | '
                     f'{sum(r.mixes for r in group)} |')
    total = sum(r.mixes for r in rows)
    lines.append(f'| **all** | {len(rows)} | {total} |')
    other = [r for r in rows if r.mixes and r.reason]
    if other:
        lines += [
            '', '| config | mixes at counts | not at the asked counts, '
            'because |', '|---|---|---|'
        ] + [
            f'| {r.family}/{r.config} | {r.counts} | '
            f'{r.reason.replace("|", "/")} |' for r in other
        ]
    failed = [r for r in rows if not r.mixes]
    if failed:
        lines += ['', '| config | stops at | reason |', '|---|---|---|'] + [
            f'| {r.family}/{r.config} | {r.stage} | '
            f'{r.reason.replace("|", "/")} |' for r in failed
        ]
    lines.append('')
    lines.append(f'{total} of {len(rows)} recognition configs mix' +
                 (f' ({len(other)} of them at counts scaled to their recipe).'
                  if other else '.'))
    return '\n'.join(lines)
