"""Read and set one argument of a call to a stock backbone class.

An FFN backbone passes the stock class's arguments on as it got them,
positional ones included (``ResNet3d(34, None)``, ``TimeSformer(8, 64,
16)``); where it must read or replace one of them (the frame count,
``pretrained``), the argument may be positional or a keyword. These helpers
find it by the stock ``__init__``'s signature.
"""
import inspect
from typing import Any, Dict, Optional, Tuple

__all__ = ['positional_index', 'stock_argument', 'with_stock_argument']


def positional_index(stock_class: type, name: str) -> Optional[int]:
    """Position of parameter ``name`` among the positional parameters of
    ``stock_class.__init__`` (``self`` excluded), or None where it cannot
    be given positionally (keyword-only, behind ``*args`` or only in
    ``**kwargs``)."""
    parameters = list(
        inspect.signature(stock_class.__init__).parameters.values())[1:]
    for index, parameter in enumerate(parameters):
        if parameter.kind not in (parameter.POSITIONAL_ONLY,
                                  parameter.POSITIONAL_OR_KEYWORD):
            return None
        if parameter.name == name:
            return index
    return None


def stock_argument(stock_class: type,
                   args: tuple,
                   kwargs: Dict[str, Any],
                   name: str,
                   default: Any = None) -> Any:
    """The value the stock ``__init__`` gets for ``name`` from ``(*args,
    **kwargs)``: the positional or keyword value, else the signature's
    default, else ``default``."""
    index = positional_index(stock_class, name)
    if index is not None and index < len(args):
        return args[index]
    if name in kwargs:
        return kwargs[name]
    parameter = inspect.signature(stock_class.__init__).parameters.get(name)
    if parameter is None or parameter.default is parameter.empty:
        return default
    return parameter.default


def with_stock_argument(stock_class: type, args: tuple, kwargs: Dict[str, Any],
                        name: str, value: Any) -> Tuple[tuple, Dict[str, Any]]:
    """``(args, kwargs)`` with ``name`` set to ``value``: in its place where
    it was given positionally, else as a keyword. The inputs are not
    changed."""
    index = positional_index(stock_class, name)
    if index is not None and index < len(args):
        return tuple(args[:index]) + (value, ) + tuple(
            args[index + 1:]), dict(kwargs)
    return tuple(args), dict(kwargs, **{name: value})
