"""The dialog engine: a DialogSpec compiled once into a pytransitions AsyncMachine, run per turn."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from transitions.extensions.asyncio import AsyncMachine

from dialogs.expr import compile_expr
from dialogs.forms import FormRunner
from dialogs.registry import Registry, call
from dialogs.schema import DialogSpec, StateSpec, TransitionSpec, duration_seconds
from dialogs.turn import HANDOFF_SLOT, Turn
from templates.variables import SlotView

log = logging.getLogger("palabre.dialogs")
Step = Callable[[Turn], Awaitable[Any]]
TIMEOUT_SLOT = "_timeout"
LAST_SEEN_SLOT = "_seen"
OPTIONAL_VARIABLES = ("product", "order", "offered", "when", "quoted", "wanted", "also_named")


class DialogError(ValueError):
    """A dialog that cannot be compiled (unknown action, condition or state)."""


def _unplugged(name: str, accepts: bool) -> Callable[[Turn], bool | None]:
    def stand_in(turn: Turn) -> bool | None:
        log.info("operator action '%s' is not plugged in; %s", name, "accepted" if accepts else "false")
        return True if accepts else None

    return stand_in


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
    guard: Step | None
    before: Step | None
    dest: str | None
    enter: Step | None
    after: Step | None


def scope(turn: Turn) -> dict[str, Any]:
    """What a `when:` expression can read."""
    contact = turn.event.contact
    entities: dict[str, Any] = {}
    for ent in turn.parse.get("entities", ()):
        entities.setdefault(ent.get("entity"), ent.get("value"))
    return {
        "slots": turn.slots, "settings": turn.settings, "entities": entities, "state": turn.state,
        "intent": (turn.parse.get("intent") or {}).get("name"),
        # every serious contender (0.3 or more): "annuler mon rdv" is `appointment` with `cancel` next
        "intents": [r.get("name") for r in turn.parse.get("intent_ranking", ()) if (r.get("confidence") or 0) >= 0.3],
        "buyer": {"name": contact.name, "channel": turn.event.channel, "locale": turn.slots.get("_locale"),
                  "address_known": bool(contact.address)},
    }


class Dialog:
    """A compiled dialog. `step` runs one trigger against one conversation's state.

    pytransitions builds the machine once per dialog (states, wildcard sources, the order of
    candidate transitions); a step only looks up that table, so a turn builds nothing.
    Conditions run in order and stop at the first that fails; actions run in order before the
    state changes; `say` messages are queued after it changes. Leaving a state runs its `on_exit`
    and cancels its timeout; entering one runs `on_enter`, says `say`, starts its timeout and, for a
    form, asks the first missing slot.
    """

    def __init__(self, spec: DialogSpec, registry: Registry, settings: dict[str, Any] | None = None) -> None:
        self.spec = spec
        self.settings = {**spec.settings, **(settings or {})}
        callables, _ = spec.names_used()
        # declared operator actions nobody plugged in: the dialog runs without them (see DialogSpec)
        self.unplugged = sorted(n for n in callables if n not in registry and n in spec.operator_actions)
        if self.unplugged:
            validators = {s.validator for s in spec.slots.values()}
            registry = registry.extended({n: _unplugged(n, n in validators) for n in self.unplugged})
            log.warning("dialog '%s': operator actions not plugged in: %s (PALABRE_ACTIONS or PALABRE_REMOTE_ACTIONS);"
                        " conditions naming them are false", spec.name, ", ".join(self.unplugged))
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
        self.forms = FormRunner(spec, registry, self)
        self._enter = {name: self._entering(name, state) for name, state in spec.states.items()}
        self._exit = {name: self._leaving(state) for name, state in spec.states.items()}
        for name, run in self._enter.items():
            if run is not None:
                self._machine.get_state(name).add_callback("enter", run)
        for t in spec.transitions:
            self._add(t)
        for t in spec.global_transitions:
            self._add(t, answers_aside=t.dest is None and not set(t.trigger) <= set(spec.fallback.closings))
        self.system_triggers = spec.all_system_triggers()
        self._timeout_triggers = frozenset(s.timeout.trigger for s in spec.states.values() if s.timeout)
        self._global_triggers = frozenset(tr for t in spec.global_transitions for tr in t.trigger)
        self._session = duration_seconds(spec.session.expire_after, self.settings) if spec.session else None
        self._table = self._compile_table()

    # compiling
    def _add(self, t: TransitionSpec, *, answers_aside: bool = False) -> None:
        """`answers_aside`: a global transition that stays put ("vous êtes où ?" while paying) says the state's
        prompt after its answer, so the buyer sees what the bot still waits for (Rasa re-prompts likewise)."""
        kwargs: dict[str, Any] = {}
        if t.conditions or t.unless or t.when or t.entities:
            kwargs["conditions"] = [self._guard(t)]
        if t.actions or t.set:
            kwargs["before"] = [self._runner(t.actions, [], t.set)]
        if t.say or answers_aside:
            kwargs["after"] = [self._runner([], t.say, reprompt=answers_aside)]
        source: Any = "*" if "*" in t.source else t.source
        for trigger in t.trigger:
            self._machine.add_transition(trigger, source, t.dest, **kwargs)

    def _guard(self, t: TransitionSpec) -> Step:
        checks = [(self._registry.get(n), True) for n in t.conditions]
        checks += [(self._registry.get(n), False) for n in t.unless]
        when = compile_expr(t.when) if t.when else None
        entities = tuple(t.entities)

        async def guard(turn: Turn) -> bool:
            if entities and any(turn.entity(e) in (None, "") for e in entities):
                return False
            if when is not None and not when(scope(turn)):
                return False
            for fn, wanted in checks:
                if bool(await call(fn, turn)) is not wanted:
                    return False
            return True

        return guard

    def _runner(self, actions: list[str], says: list[str | None], sets: dict[str, Any] | None = None, *,
                reprompt: bool = False) -> Step:
        fns = [self._registry.get(n) for n in actions]
        keys = [k for k in says if k]
        assignments = list((sets or {}).items())

        async def run(turn: Turn) -> None:
            for slot, value in assignments:
                if value is None:
                    turn.slots.pop(slot, None)
                else:
                    turn.slots[slot] = value
            for fn in fns:
                await call(fn, turn)
            for key in keys:
                turn.say(key)
            if reprompt:
                self._reprompt(turn)

        return run

    def _entering(self, name: str, state: StateSpec) -> Step | None:
        hands_over = "handoff" in state.tags
        if not (state.on_enter or state.say or state.timeout or state.form or hands_over):
            return None
        actions = self._runner(state.on_enter, [state.say])
        timeout = state.timeout

        async def enter(turn: Turn) -> None:
            await actions(turn)
            if hands_over and not turn.slots.get(HANDOFF_SLOT):
                turn.handoff(name)  # a state tagged `handoff` gives the conversation to the agents
            if timeout is not None:
                settings = turn.settings or self.settings
                # unique per entry (a fired timer's event id is never reused), short whatever the event id
                entry = hashlib.sha1(turn.event.id.encode()).hexdigest()[:12]
                timer_id = f"{turn.event.conversation_key}:{name}:{entry}"
                turn.slots[TIMEOUT_SLOT] = timer_id
                turn.schedule(timer_id, turn.clock() + duration_seconds(timeout.after, settings), timeout.trigger,
                              timeout=timer_id)
            if state.form is not None:
                self.forms.prefill(turn, state.form)  # its first question waits for the transition's `say`

        return enter

    def _leaving(self, state: StateSpec) -> Step | None:
        if not (state.on_exit or state.timeout or state.form):
            return None
        actions = self._runner(state.on_exit, [])
        form = state.form

        async def leave(turn: Turn) -> None:
            timer_id = turn.slots.pop(TIMEOUT_SLOT, None)
            if timer_id:
                before = len(turn.timers)
                turn.timers = [t for t in turn.timers if t.id != timer_id]
                if len(turn.timers) == before:
                    turn.cancel_timer(timer_id)
            if form is not None:
                turn.slots.pop("_tries", None)
            await actions(turn)

        return leave

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

    # running
    async def fire(self, turn: Turn, trigger: str) -> bool:
        """Run `trigger` from the turn's state; True if a transition happened.

        This walks the transition table that pytransitions compiled, with its semantics (first
        candidate whose conditions hold; before, exit, state change and on_enter, after) but without
        AsyncMachine's per-trigger task and context bookkeeping, which cost ~60 µs a step.
        """
        for t in self._table.get((turn.state, trigger), ()):
            if t.guard is not None and not await t.guard(turn):
                continue
            if t.before is not None:
                await t.before(turn)
            if t.dest is not None:
                leave = self._exit.get(turn.state)
                if leave is not None:
                    await leave(turn)
                turn.state = t.dest
                if t.enter is not None:
                    await t.enter(turn)
            if t.after is not None:
                await t.after(turn)
            if t.dest is not None and t.enter is not None:
                form = self.spec.states[t.dest].form
                if form is not None:  # the question last: "Très bien, organisons…" then "À quelle adresse ?"
                    self.forms.ask_next(turn, form)
            return True
        return False

    def _prepare(self, turn: Turn) -> None:
        if not turn.settings:
            own = getattr(turn.services, "settings", None)
            turn.settings = {**self.settings, **own} if own else self.settings
        for name in OPTIONAL_VARIABLES:  # wording may test them ({% if product %}) before any action sets them
            turn.variables.setdefault(name, None)
        turn.variables.setdefault("slots", SlotView(turn.slots))
        turn.variables.setdefault("settings", SlotView(turn.settings))

    def _expire_session(self, turn: Turn) -> None:
        now = turn.clock()
        seen = turn.slots.get(LAST_SEEN_SLOT)
        turn.slots[LAST_SEEN_SLOT] = round(now)
        if self._session is None or seen is None or now - float(seen) < self._session:
            return
        timer_id = turn.slots.pop(TIMEOUT_SLOT, None)
        if timer_id:
            turn.cancel_timer(timer_id)
        for slot in [*self.spec.slots, "_tries", "_misses"]:
            turn.slots.pop(slot, None)
        turn.state = self.spec.initial
        if self.spec.session and self.spec.session.say:
            turn.say(self.spec.session.say)

    async def step(self, turn: Turn, trigger: str, *, is_button: bool = False) -> bool:
        """Handle a buyer's message or a system event; falls back politely when nothing fits.

        Returns True when a transition handled it. System triggers that no longer fit (a timer
        for an order already paid, a state timeout after the state was left) are dropped silently.
        """
        self._prepare(turn)
        if trigger in self.system_triggers:
            timer_id = turn.event.data.get("timeout")
            if trigger in self._timeout_triggers and timer_id and timer_id != turn.slots.get(TIMEOUT_SLOT):
                return False
            return await self.fire(turn, trigger)
        if self._session is not None:
            self._expire_session(turn)
        state = self.spec.states.get(turn.state)
        if state is None:  # a state a vendor's new dialog removed: start over rather than fail
            turn.state = self.spec.initial
            state = self.spec.states[turn.state]
        if state.form is not None:
            handled = await self.forms.handle(turn, trigger, state.form, is_button=is_button)
            if handled is not None:
                return await self._complete_forms(turn) or handled
        if await self.fire(turn, trigger):
            turn.slots.pop("_misses", None)
            await self._complete_forms(turn)
            return True
        return self.miss(turn, trigger, is_button=is_button)

    async def _complete_forms(self, turn: Turn) -> bool:
        """A form entered with every slot already given (from the entering message) completes at once."""
        for _ in range(len(self.spec.states)):
            form = self.spec.states[turn.state].form
            if form is None or self.forms.missing(turn, form) is not None:
                return False
            if not await self.fire(turn, form.done):
                return False
        return True

    def prompt(self, turn: Turn) -> str | None:
        state = self.spec.states[turn.state]
        if state.form is not None:
            ask = self.forms.current_ask(turn, state.form)
            if ask:
                return ask
        return state.prompt

    def _reprompt(self, turn: Turn) -> None:
        state = self.spec.states[turn.state]
        # the initial state waits for nothing; a form asks its own question again (dialogs/forms.py)
        if turn.state == self.spec.initial or state.form is not None or turn.slots.get(HANDOFF_SLOT):
            return
        if state.prompt and state.prompt not in turn.says:
            turn.say(state.prompt)

    def miss(self, turn: Turn, trigger: str, *, is_button: bool = False) -> bool:
        """The fallback policy: re-prompt; after `max_misses` misses, offer a human (or hand over)."""
        fb = self.spec.fallback
        prompt = self.prompt(turn)
        if is_button and trigger not in self._global_triggers:
            turn.say(fb.stale_button)
            if prompt:
                turn.say(prompt)
            return False
        if trigger in fb.acknowledge:
            if prompt:
                turn.say(prompt)
            return False
        misses = int(turn.slots.get("_misses", 0)) + 1
        if misses >= fb.max_misses:
            turn.slots.pop("_misses", None)
            turn.say(fb.then_say)
            if fb.then == "handoff":
                turn.handoff("fallback")
        else:
            turn.slots["_misses"] = misses
            turn.say(fb.say)
            if prompt and turn.state != self.spec.initial:
                turn.say(prompt)
        return False
