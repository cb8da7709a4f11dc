"""The one Jinja2 environment messages render in: sandboxed, immutable, no globals, bounded operators."""

from __future__ import annotations

import operator
from datetime import date, datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import Any

from jinja2 import StrictUndefined, Template, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from locales import DEFAULT, babel_locale, clock, money

# Past these a template is building a huge value on purpose ("x" * 10**9, 9**9**9): refused.
MAX_SEQUENCE = 10_000
MAX_EXPONENT = 64


class MessageEnvironment(ImmutableSandboxedEnvironment):
    """Vendor wording is untrusted: no attribute starting with `_`, no mutation of lists or dicts,
    no Jinja globals (`cycler`, `range`, `namespace`…), and no operator that can exhaust memory or CPU."""

    intercepted_binops = frozenset({"*", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        # The documented objects (templates.variables) are plain namespaces of values: the general
        # checks (mutable ABCs, internal types) cost more than the render itself on a long catalogue.
        if type(obj) is SimpleNamespace:
            return not attr.startswith("_")
        return super().is_safe_attribute(obj, attr, value)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "**":
            if isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is too large for a message")
            return operator.pow(left, right)
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_SEQUENCE:
                raise SecurityError("repetition is too large for a message")
        return operator.mul(left, right)


def day(value: Any, locale: str = DEFAULT, tz: str = "Africa/Dakar") -> str:
    """A date as the buyer reads it ('mer. 10 juin'): a date slot ('2026-06-10') or Unix seconds; anything
    else is shown as it is rather than failing the message."""
    from babel.dates import format_date, get_timezone

    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            when = datetime.fromtimestamp(value, get_timezone(tz)).date()
        else:
            when = date.fromisoformat(str(value))
    except (ValueError, OverflowError, OSError):
        return str(value)
    return format_date(when, "EEE d MMMM", locale=babel_locale(locale))


def _build() -> MessageEnvironment:
    env = MessageEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.globals.clear()
    env.filters["money"] = money
    env.filters["clock"] = clock
    env.filters["day"] = day
    return env


ENV = _build()


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Template:
    """Compile once: the shipped wording is shared by every vendor of a segment, and equal text by all."""
    return ENV.from_string(source)


def forbidden_names(source: str) -> list[tuple[int, str]]:
    """(template line, attribute) for each private attribute a template names, in any branch.

    The sandbox refuses these when they are reached; reading the template finds them even in a
    branch that sample values never take.
    """
    found: list[tuple[int, str]] = []
    for node in ENV.parse(source).find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args \
                and isinstance(node.args[0], nodes.Const):
            name = node.args[0].value
        if isinstance(name, str) and name.startswith("_"):
            found.append((node.lineno, name))
    # find_all walks a chain from its outer end: reversed, `a.__init__.__globals__` reads left to right
    return found[::-1]


def too_costly(source: str) -> list[tuple[int, str]]:
    """(template line, what) for constructs whose cost a message does not need and a check cannot bound:
    a loop inside a loop (two loops over a 10 000-character string are 10^8 steps), recursive loops,
    macros and call blocks (recursion)."""
    found: list[tuple[int, str]] = []
    ast = ENV.parse(source)
    for node in ast.find_all((nodes.Macro, nodes.CallBlock, nodes.For)):
        if isinstance(node, nodes.For) and node.recursive:
            found.append((node.lineno, "a recursive loop"))
        elif isinstance(node, nodes.For):
            if any(True for _ in node.find_all(nodes.For)):
                found.append((node.lineno, "a loop inside a loop"))
        else:
            found.append((node.lineno, "a macro" if isinstance(node, nodes.Macro) else "a call block"))
    return found


def names_used(source: str) -> set[str]:
    """The variables a template reads from its context, in any branch (not those it sets itself)."""
    ast = ENV.parse(source)
    # meta counts a name set inside an `{% if %}` as undeclared; a template's own names are not context
    stored = {n.name for n in ast.find_all(nodes.Name) if n.ctx in ("store", "param")}
    return meta.find_undeclared_variables(ast) - stored


__all__ = ["ENV", "MessageEnvironment", "SecurityError", "compile_template", "forbidden_names", "names_used",
           "too_costly"]
