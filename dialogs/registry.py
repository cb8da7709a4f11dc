"""The registry of actions and conditions a dialog may name; vendors' YAML can name nothing else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dialogs.turn import Turn

ActionFn = Callable[["Turn"], Awaitable[Any] | Any]


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

    def get(self, name: str) -> ActionFn:
        return self._fns[name]

    def __contains__(self, name: object) -> bool:
        return name in self._fns

    def names(self) -> list[str]:
        return sorted(self._fns)
