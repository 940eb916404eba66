"""Crafted checkpoints for the safe-loading tests: what a hostile file can
hold, and the process state that loading it must leave unchanged.

(A module with a unique name, like ``e2e_helpers``: test files import it
directly.)"""
import os

import numpy as np


class SystemPayload:
    """Unpickles as ``os.system('touch MARKER')``: code execution, visible as
    the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class Lookup:
    """Pickles as ``getattr(obj, name)``, like HistoryBuffer's methods."""

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


def crafted_history_buffer(statistics_methods, **extra):
    """A ``HistoryBuffer`` that pickles (``NEWOBJ`` + ``BUILD``, as a real one
    does) with the state an attacker chose: its ``statistics_methods``,
    which ``HistoryBuffer.__getstate__`` stores, and any ``extra`` keys."""
    from mmengine.logging import HistoryBuffer
    state = dict(
        max_length=10,
        _log_history=np.array([1.0, 3.0]),
        _count_history=np.array([1, 1]),
        statistics_methods=statistics_methods,
        **extra)
    buffer = HistoryBuffer.__new__(HistoryBuffer)
    # pickle asks the instance for its state: this one, not the class's.
    buffer.__getstate__ = lambda: state
    return buffer


def hostile_statistics() -> dict:
    """The statistics methods of issue 16: new names that would widen what
    the safe ``getattr`` serves, and ``'mean'`` swapped for ``max``."""
    from mmengine.logging import HistoryBuffer
    return {
        '__class__': HistoryBuffer.mean,
        '__getattribute__': HistoryBuffer.mean,
        'mean': HistoryBuffer.max,
    }


def mmengine_checkpoint(scalar, **runtime_info) -> dict:
    """A checkpoint shaped as ``Runner.save_checkpoint`` writes it, with
    ``scalar`` as a logged scalar of the message hub (pickled before
    ``runtime_info``)."""
    return dict(
        meta=dict(epoch=1, iter=4),
        state_dict={},
        message_hub=dict(
            log_scalars={'train/loss': scalar},
            runtime_info=runtime_info,
            resumed_keys={}))


def crafted_history_buffer_checkpoint() -> dict:
    """Issue 16, item 1: the crafted buffer first, then a lookup that only a
    widened name list would serve (``getattr(HistoryBuffer, '__class__')``
    is ``type``)."""
    from mmengine.logging import HistoryBuffer
    return mmengine_checkpoint(
        crafted_history_buffer(hostile_statistics()),
        handed_out=Lookup(HistoryBuffer, '__class__'))


def process_state() -> dict:
    """What no checkpoint may change: HistoryBuffer's class-level statistics
    methods and its class attributes (name -> identity)."""
    from mmengine.logging import HistoryBuffer
    HistoryBuffer()  # registers the defaults, as any first buffer does
    return dict(
        statistics={
            name: id(method)
            for name, method in HistoryBuffer._statistics_methods.items()
        },
        attributes={
            name: id(value)
            for name, value in vars(HistoryBuffer).items()
        })
