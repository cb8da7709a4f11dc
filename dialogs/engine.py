"""The dialog engine: a DialogSpec compiled once into a pytransitions AsyncMachine, run per turn."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from transitions.extensions.asyncio import AsyncMachine

from dialogs.registry import Registry
from dialogs.schema import DialogSpec, TransitionSpec
from dialogs.turn import Turn


class DialogError(ValueError):
    """A dialog that cannot be compiled (unknown action, condition or state)."""


class _Machine(AsyncMachine):
    @staticmethod
    def resolve_callable(func: Any, event_data: Any) -> Callable[..., Any]:
        # pytransitions would import any dotted name it cannot find on the model; a YAML string
        # must never import a module, so only callables compiled from our registry are allowed.
        if callable(func):
            return func
        raise DialogError(f"dialog callback {func!r} is not a registered callable")


@dataclass(frozen=True)
class _Compiled:
    guard: Callable[[Turn], Awaitable[bool]] | None
    before: Callable[[Turn], Awaitable[None]] | None
    dest: str | None
    enter: Callable[[Turn], Awaitable[None]] | None
    after: Callable[[Turn], Awaitable[None]] | None


async def _call(fn: Callable[[Turn], Any], turn: Turn) -> Any:
    result = fn(turn)
    if inspect.isawaitable(result):
        result = await result
    return result


class Dialog:
    """A compiled dialog. `step` runs one trigger against one conversation's state.

    pytransitions builds the machine once per dialog (states, wildcard sources, the order of
    candidate transitions); a step only looks up that table, so a turn builds nothing.
    Conditions run in order and stop at the first that fails; actions run in order before the
    state changes; `say` messages are queued after it changes.
    """

    def __init__(self, spec: DialogSpec, registry: Registry) -> None:
        self.spec = spec
        callables, _ = spec.names_used()
        missing = sorted(n for n in callables if n not in registry)
        if missing:
            raise DialogError(
                f"dialog '{spec.name}' names unknown actions/conditions: {', '.join(missing)} "
                f"(known: {', '.join(registry.names())})"
            )
        self._registry = registry
        self._machine = _Machine(
            model=None,
            states=list(spec.states),
            initial=spec.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=True,
        )
        self._enter = {
            name: self._runner(state.on_enter, [state.say])
            for name, state in spec.states.items()
            if state.on_enter or state.say
        }
        for name, run in self._enter.items():
            self._machine.get_state(name).add_callback("enter", run)
        for t in [*spec.transitions, *spec.global_transitions]:
            self._add(t)
        self.system_triggers = frozenset(spec.system_triggers)
        self._global_triggers = frozenset(tr for t in spec.global_transitions for tr in t.trigger)
        self._table = self._compile_table()

    def _add(self, t: TransitionSpec) -> None:
        kwargs: dict[str, Any] = {}
        if t.conditions or t.unless:
            kwargs["conditions"] = [self._guard(t.conditions, t.unless)]
        if t.actions:
            kwargs["before"] = [self._runner(t.actions, [])]
        if t.say:
            kwargs["after"] = [self._runner([], t.say)]
        source: Any = "*" if "*" in t.source else t.source
        for trigger in t.trigger:
            self._machine.add_transition(trigger, source, t.dest, **kwargs)

    def _guard(self, conditions: list[str], unless: list[str]) -> Callable[[Any], Any]:
        checks = [(self._registry.get(n), True) for n in conditions]
        checks += [(self._registry.get(n), False) for n in unless]

        async def guard(turn: Turn) -> bool:
            for fn, wanted in checks:
                if bool(await _call(fn, turn)) is not wanted:
                    return False
            return True

        return guard

    def _runner(self, actions: list[str], says: list[str | None]) -> Callable[[Any], Any]:
        fns = [self._registry.get(n) for n in actions]
        keys = [k for k in says if k]

        async def run(turn: Turn) -> None:
            for fn in fns:
                await _call(fn, turn)
            for key in keys:
                turn.say(key)

        return run

    def accepts(self, state: str, trigger: str) -> bool:
        return (state, trigger) in self._table

    def _compile_table(self) -> dict[tuple[str, str], list[_Compiled]]:
        """(state, trigger) -> the candidate transitions, in the order pytransitions would try them."""
        table: dict[tuple[str, str], list[_Compiled]] = {}
        for trigger, event in self._machine.events.items():
            for source, transitions in event.transitions.items():
                table[(source, trigger)] = [
                    _Compiled(
                        guard=t.conditions[0].func if t.conditions else None,
                        before=t.before[0] if t.before else None,
                        dest=t.dest,
                        enter=self._enter.get(t.dest) if t.dest else None,
                        after=t.after[0] if t.after else None,
                    )
                    for t in transitions
                ]
        return table

    async def fire(self, turn: Turn, trigger: str) -> bool:
        """Run `trigger` from the turn's state; True if a transition happened.

        This walks the transition table that pytransitions compiled, with its semantics (first
        candidate whose conditions hold; before, state change and on_enter, after) but without
        AsyncMachine's per-trigger task and context bookkeeping, which cost ~60 µs a step.
        """
        for t in self._table.get((turn.state, trigger), ()):
            if t.guard is not None and not await t.guard(turn):
                continue
            if t.before is not None:
                await t.before(turn)
            if t.dest is not None:
                turn.state = t.dest
                if t.enter is not None:
                    await t.enter(turn)
            if t.after is not None:
                await t.after(turn)
            return True
        return False

    async def step(self, turn: Turn, trigger: str, *, is_button: bool = False) -> bool:
        """Handle a buyer's message or a system event; falls back politely when nothing fits.

        Returns True when a transition handled it. System triggers that no longer fit (a timer
        for an order already paid) are dropped silently.
        """
        if trigger in self.system_triggers:
            return await self.fire(turn, trigger)
        if await self.fire(turn, trigger):
            turn.slots.pop("_misses", None)
            return True
        fb = self.spec.fallback
        prompt = self.spec.states[turn.state].prompt
        if is_button and trigger not in self._global_triggers:
            turn.say(fb.stale_button)
            if prompt:
                turn.say(prompt)
            return False
        misses = int(turn.slots.get("_misses", 0)) + 1
        if misses >= fb.max_misses:
            turn.slots.pop("_misses", None)
            turn.say(fb.then_say)
        else:
            turn.slots["_misses"] = misses
            turn.say(fb.say)
            if prompt and turn.state != self.spec.initial:
                turn.say(prompt)
        return False
