"""The dialog engine: a DialogSpec compiled once into a pytransitions AsyncMachine, run per turn."""

from __future__ import annotations

import inspect
from collections.abc import Callable
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


class _Slot:
    """A pytransitions model reused across turns: it only carries the state during one step."""

    state: str


async def _call(fn: Callable[[Turn], Any], turn: Turn) -> Any:
    result = fn(turn)
    if inspect.isawaitable(result):
        result = await result
    return result


class Dialog:
    """A compiled dialog. `step` runs one trigger against one conversation's state.

    The machine is built once; each step borrows a pooled model, so a turn costs no machine or
    model construction. Conditions run in order and stop at the first that fails; actions run in
    order before the state changes; `say` messages are queued after it changes.
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
        for name, state in spec.states.items():
            if state.on_enter or state.say:
                self._machine.get_state(name).add_callback("enter", self._runner(state.on_enter, [state.say]))
        for t in [*spec.transitions, *spec.global_transitions]:
            self._add(t)
        self.system_triggers = frozenset(spec.system_triggers)
        self._global_triggers = frozenset(tr for t in spec.global_transitions for tr in t.trigger)
        self._triggers = {s: frozenset(self._machine.get_triggers(s)) for s in spec.states}
        self._pool: list[_Slot] = []

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

        async def guard(event_data: Any) -> bool:
            turn: Turn = event_data.kwargs["turn"]
            for fn, wanted in checks:
                if bool(await _call(fn, turn)) is not wanted:
                    return False
            return True

        return guard

    def _runner(self, actions: list[str], says: list[str | None]) -> Callable[[Any], Any]:
        fns = [self._registry.get(n) for n in actions]
        keys = [k for k in says if k]

        async def run(event_data: Any) -> None:
            turn: Turn = event_data.kwargs["turn"]
            for fn in fns:
                await _call(fn, turn)
            for key in keys:
                turn.say(key)

        return run

    def accepts(self, state: str, trigger: str) -> bool:
        return trigger in self._triggers.get(state, ())

    async def fire(self, turn: Turn, trigger: str) -> bool:
        """Run `trigger` from the turn's state; True if a transition happened."""
        if not self.accepts(turn.state, trigger):
            return False
        slot = self._pool.pop() if self._pool else _Slot()
        if not hasattr(slot, "state"):
            self._machine.add_model(slot, initial=turn.state)
        try:
            self._machine.set_state(turn.state, model=slot)
            done = await self._machine.events[trigger].trigger(slot, turn=turn)
            turn.state = slot.state
            return bool(done)
        finally:
            self._pool.append(slot)

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
