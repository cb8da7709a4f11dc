"""Safe condition expressions (`when:`): a whitelisted subset of Python syntax compiled to closures.

Python's own parser (`ast.parse`) reads the text; nothing is ever evaluated by Python. Each node kind
the language allows is turned into a small closure at load time, so a condition costs a few
microseconds per turn. Anything else (calls, subscripts of arbitrary objects, lambdas, comprehensions,
attribute access outside the four namespaces) is refused with the column of the offending part.

Names a vendor may read: `slots.X`, `settings.X`, `buyer.X` (name, channel, locale, address_known),
`entities.X`, plus `intent` and `state`. A name that is not set reads as `none`.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 300
MAX_NODES = 60
NAMESPACES = ("slots", "settings", "buyer", "entities")
SCALARS = ("intent", "intents", "state")
CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}

Scope = Mapping[str, Any]
Fn = Callable[[Scope], Any]

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: b is not None and a in b, ast.NotIn: lambda a, b: b is None or a not in b,
}
_ARITH: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.Mod: operator.mod,
}


class ExprError(ValueError):
    """An expression outside the condition language; `column` is 1-based within the expression."""

    def __init__(self, message: str, column: int = 1) -> None:
        self.column = column
        super().__init__(f"{message} (column {column})")


def _safe_compare(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return bool(fn(a, b))
        except TypeError:
            return False  # `slots.quantity > 2` while the slot is unset is simply false

    return compare


def _compile(node: ast.AST) -> Fn:
    col = getattr(node, "col_offset", 0) + 1
    if isinstance(node, ast.Expression):
        return _compile(node.body)
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda s: all(p(s) for p in parts)
        return lambda s: any(p(s) for p in parts)
    if isinstance(node, ast.UnaryOp):
        inner = _compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda s: not inner(s)
        if isinstance(node.op, ast.USub):
            return lambda s: -inner(s)
        raise ExprError("only 'not' and '-' may precede a value", col)
    if isinstance(node, ast.Compare):
        left = _compile(node.left)
        ops = []
        for op, right in zip(node.ops, node.comparators, strict=True):
            if type(op) not in _COMPARE:
                raise ExprError("use ==, !=, <, <=, >, >=, in or not in", col)
            ops.append((_safe_compare(_COMPARE[type(op)]), _compile(right)))

        def compare(s: Scope) -> bool:
            a = left(s)
            for fn, right_fn in ops:
                b = right_fn(s)
                if not fn(a, b):
                    return False
                a = b
            return True

        return compare
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _ARITH:
            raise ExprError("use +, -, *, / or %", col)
        fn, a, b = _ARITH[type(node.op)], _compile(node.left), _compile(node.right)

        def arith(s: Scope) -> Any:
            try:
                return fn(a(s), b(s))
            except (TypeError, ZeroDivisionError):
                return None

        return arith
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (str, int, float, bool)) and node.value is not None:
            raise ExprError("only numbers, text, true, false and none are values", col)
        value = node.value
        return lambda s: value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_compile(e) for e in node.elts]
        return lambda s: [i(s) for i in items]
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            const = CONSTANTS[node.id]
            return lambda s: const
        if node.id in SCALARS:
            name = node.id
            return lambda s: s.get(name)
        raise ExprError(f"unknown name '{node.id}' (use {', '.join(f'{n}.…' for n in NAMESPACES)}, "
                        f"{', '.join(SCALARS)})", col)
    if isinstance(node, ast.Attribute):
        if not (isinstance(node.value, ast.Name) and node.value.id in NAMESPACES):
            raise ExprError(f"only {', '.join(f'{n}.NAME' for n in NAMESPACES)} can be read", col)
        if node.attr.startswith("_"):
            raise ExprError("names starting with '_' are private", col)
        space, attr = node.value.id, node.attr

        def read(s: Scope) -> Any:
            ns = s.get(space)
            return ns.get(attr) if ns is not None else None

        return read
    raise ExprError(f"'{type(node).__name__}' is not allowed in a condition", col)


def compile_expr(text: str) -> Fn:
    """Compile a condition; raises ExprError saying what is wrong and where."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"a condition is at most {MAX_LENGTH} characters")
    source = text.replace("&&", " and ").replace("||", " or ") if "&&" in text or "||" in text else text
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"not a valid condition: {exc.msg}", exc.offset or 1) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExprError(f"a condition has at most {MAX_NODES} parts; use a registered condition")
    return _compile(tree)


def check_expr(text: str) -> str | None:
    """What is wrong with a condition, or None."""
    try:
        compile_expr(text)
    except ExprError as exc:
        return str(exc)
    return None
