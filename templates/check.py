"""Checking message templates before they run: forbidden attributes, undefined names, sample renders."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import lru_cache

from jinja2 import TemplateSyntaxError, UndefinedError

from templates.sandbox import SecurityError, compile_template, forbidden_names, names_used, too_costly
from templates.variables import allowed, sample_sets

Part = tuple[str | int, ...]


@dataclass(frozen=True)
class MessageProblem:
    """What is wrong with one message; `locale` is spelt as in the file, `part` is its path inside the message."""

    origin: str  # "vendor" or "shipped"
    locale: str
    key: str
    part: Part
    message: str


def hint(name: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _where(lineno: int | None) -> str:
    return f" (template line {lineno})" if lineno and lineno > 1 else ""


@lru_cache(maxsize=4096)
def template_problem(source: str, segment: str, key: str, locale: str, each: str | None = None) -> str | None:
    """Why `source` cannot be `key`'s wording, or None; `each`: the list variable whose items it renders
    as `item` (a list row). Cached: shipped wording is checked once per process."""
    try:
        compile_template(source)
    except TemplateSyntaxError as exc:
        return f"does not compile: {exc.message}{_where(exc.lineno)}"
    forbidden = forbidden_names(source)
    if forbidden:
        lineno, name = forbidden[0]
        return f"touches '{name}', which message templates may not use (sandbox){_where(lineno)}"
    costly = too_costly(source)
    if costly:
        lineno, what = costly[0]
        return f"uses {what}, which message templates may not use{_where(lineno)}"
    names = (*allowed(segment, key), *(["item"] if each else []))
    unknown = sorted(names_used(source) - set(names))
    if unknown:
        return (f"uses undefined variable '{unknown[0]}'{hint(unknown[0], names)}; "
                f"this message may use: {', '.join(names)}")
    template = compile_template(source)
    for ctx in sample_sets(segment, key, locale):
        if each:  # a row renders once per item; none for an empty list
            if not ctx.get(each):
                continue
            ctx = {**ctx, "item": ctx[each][0]}
        try:
            template.render(ctx)
        except SecurityError as exc:
            return f"refused by the sandbox: {exc}"
        except UndefinedError as exc:
            return f"uses something undefined with sample values: {exc}"
        except Exception as exc:  # untrusted wording: whatever it raises is the vendor's problem to fix
            return f"does not render with sample values: {type(exc).__name__}: {exc}"
    return None


__all__ = ["MessageProblem", "Part", "hint", "template_problem"]
