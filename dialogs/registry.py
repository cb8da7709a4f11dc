"""The registry of actions and conditions a dialog may name; vendors' YAML can name nothing else."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from dialogs.yamlsource import Path_, YamlProblem, column_of, line_of

if TYPE_CHECKING:
    from dialogs.turn import Turn

ActionFn = Callable[["Turn"], Awaitable[Any] | Any]


async def call(fn: ActionFn, turn: Turn) -> Any:
    """Run a registered action or condition, awaiting it if it is a coroutine."""
    result = fn(turn)
    if inspect.isawaitable(result):
        result = await result
    return result


class Registry:
    """Names to callables. The operator's code registers them; YAML only refers to names."""

    def __init__(self) -> None:
        self._fns: dict[str, ActionFn] = {}

    def register(self, name: str | None = None) -> Callable[[ActionFn], ActionFn]:
        def deco(fn: ActionFn) -> ActionFn:
            self._fns[name or fn.__name__] = fn
            return fn

        return deco

    def add(self, name: str, fn: ActionFn) -> None:
        self._fns[name] = fn

    def extended(self, fns: dict[str, ActionFn]) -> Registry:
        """A copy with these names added (this registry is left as it is)."""
        copy = Registry()
        copy._fns = {**self._fns, **fns}
        return copy

    def get(self, name: str) -> ActionFn:
        return self._fns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._fns

    def names(self) -> list[str]:
        return sorted(self._fns)

    def unknown(self, refs: list[tuple[Path_, str]], lines: dict[Path_, int], file: str) -> list[YamlProblem]:
        """A problem at its file:line for each name in `refs` that nothing registered."""
        known = self.names()
        problems = []
        for path, name in refs:
            if name in self._fns:
                continue
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"
            where = ".".join(str(p) for p in path)
            kind = "condition" if {"conditions", "unless"} & set(path) else "action"
            problems.append(YamlProblem(file, line_of(lines, path), f"{where}: unknown {kind} '{name}' ({hint})",
                                        column_of(lines, path)))
        return problems
