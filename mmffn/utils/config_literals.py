"""Read a config text as data, never as code.

MMEngine saves the config of a run as Python text in a checkpoint's
``meta['cfg']``. A checkpoint is data from anywhere, so its config text must
not run: ``Config.fromstring(text, '.py')`` would execute it. This reader
parses the text with :mod:`ast` and evaluates only literals (numbers,
strings, booleans, None, tuples, lists, dicts) and ``dict(key=value, ...)``
calls, the forms ``Config.pretty_text`` writes. Any other expression
(a call, a name, an attribute, an operator) is not evaluated: its
assignment is left out of the result.
"""
import ast
from typing import Any, Dict

__all__ = ['read_config_literals']


class _NotLiteral(Exception):
    """An expression that is not plain data."""


def _is_number(node: ast.AST) -> bool:
    value = getattr(node, 'value', None)
    return isinstance(node, ast.Constant) and isinstance(
        value, (int, float)) and not isinstance(value, bool)


def _value(node: ast.AST) -> Any:
    """The value of a literal expression; raises _NotLiteral otherwise."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_value(item) for item in node.elts)
    if isinstance(node, ast.List):
        return [_value(item) for item in node.elts]
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):  # {**other}
            raise _NotLiteral
        return {_value(k): _value(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and _is_number(node.operand):
        number = node.operand.value
        if isinstance(node.op, ast.USub):
            return -number
        if isinstance(node.op, ast.UAdd):
            return number
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(k.arg is not None for k in node.keywords)):
        return {k.arg: _value(k.value) for k in node.keywords}
    raise _NotLiteral


def read_config_literals(text: str) -> Dict[str, Any]:
    """The top-level ``name = literal`` assignments of a config text.

    Nothing in ``text`` is executed or imported. Assignments whose value is
    not plain data (see the module doc), and every other statement, are
    left out.

    Args:
        text (str): Python config text, e.g. a checkpoint's
            ``meta['cfg']``.

    Returns:
        dict: Name to value of each literal assignment; empty when the text
        is not Python.
    """
    try:
        tree = ast.parse(text, mode='exec')
    except (SyntaxError, ValueError):  # ValueError: null bytes
        return {}
    found = {}
    for statement in tree.body:
        targets = getattr(statement, 'targets', ())
        if not (isinstance(statement, ast.Assign) and len(targets) == 1
                and isinstance(targets[0], ast.Name)):
            continue
        try:
            found[targets[0].id] = _value(statement.value)
        except (_NotLiteral, RecursionError):
            continue
    return found
