"""The YAML dialog schema v1: slots, states (forms, timeouts), transitions, global transitions, the
fallback policy and session expiry."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dialogs.expr import check_expr
from dialogs.slots import SlotSpec

NAME = r"^[a-z][a-z0-9_]*$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$")
_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 60}


def duration_seconds(value: str | float, settings: dict[str, Any]) -> float:
    """A duration: a number of minutes, '90s' / '30m' / '2h' / '1d', or the name of a setting in minutes."""
    if isinstance(value, str) and value in settings:
        value = settings[value]
    if isinstance(value, (int, float)):
        return float(value) * 60
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"'{value}' is not a duration (30m, 2h, 1d) nor a setting")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class FormSpec(BaseModel):
    """Fill `slots` one question at a time; then fire `done` (a trigger your transitions consume).

    `back` forgets the last answer and asks it again; the `interrupts` are tried as ordinary
    transitions before an answer is read (so "annuler" cancels instead of becoming a value).
    After a slot's `max_attempts` wrong answers, `failed` is fired, or the fallback policy applies.
    """

    model_config = ConfigDict(extra="forbid")

    slots: list[str] = Field(min_length=1)
    done: str = "completed"
    failed: str = "form_failed"
    interrupts: list[str] = Field(default_factory=lambda: ["cancel", "back", "human", "help"])

    _lists = field_validator("slots", "interrupts", mode="before")(_as_list)


class TimeoutSpec(BaseModel):
    """A durable timer started on entering the state, cancelled on leaving it; fires `trigger`."""

    model_config = ConfigDict(extra="forbid")

    after: str | float
    trigger: str = Field(default="timeout", pattern=NAME)


class StateSpec(BaseModel):
    """A state: actions run and a message said on entering it; `prompt` reminds the buyer what to do."""

    model_config = ConfigDict(extra="forbid")

    on_enter: list[str] = Field(default_factory=list)
    on_exit: list[str] = Field(default_factory=list)
    say: str | None = None
    prompt: str | None = None
    form: FormSpec | None = None
    timeout: TimeoutSpec | None = None
    tags: list[str] = Field(default_factory=list)

    _lists = field_validator("on_enter", "on_exit", "tags", mode="before")(_as_list)


class TransitionSpec(BaseModel):
    """trigger (intent, button id or system event) from source to dest, if conditions hold."""

    model_config = ConfigDict(extra="forbid")

    trigger: list[str]
    source: list[str] = Field(default_factory=lambda: ["*"])
    dest: str | None = None
    conditions: list[str] = Field(default_factory=list)
    unless: list[str] = Field(default_factory=list)
    when: str | None = None  # a safe expression over slots, settings, buyer and entities
    entities: list[str] = Field(default_factory=list)  # each must be in the parse result
    actions: list[str] = Field(default_factory=list)
    set: dict[str, Any] = Field(default_factory=dict)  # slot -> value (null clears it), before actions
    say: list[str] = Field(default_factory=list)

    _lists = field_validator("trigger", "source", "conditions", "unless", "entities", "actions", "say",
                             mode="before")(_as_list)

    @field_validator("when")
    @classmethod
    def _when(cls, value: str | None) -> str | None:
        problem = check_expr(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("trigger")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("a transition needs at least one trigger")
        return value


class FallbackSpec(BaseModel):
    """What to say when a message fits no transition; after `max_misses` misses, offer a human."""

    model_config = ConfigDict(extra="forbid")

    say: str = "not_understood"
    stale_button: str = "stale_button"
    max_misses: int = Field(default=2, ge=1)
    then_say: str = "offer_human"
    then: Literal["offer", "handoff"] = "offer"  # "handoff" hands the conversation to a human at once
    # a "ok", "oui" or "non" no transition takes (nothing was asked): the state's prompt, or silence, and no miss
    acknowledge: list[str] = Field(default_factory=lambda: ["affirm", "deny"])
    # a global answer to these closes an exchange: the state's prompt does not follow it (a "merci" answered once)
    closings: list[str] = Field(default_factory=lambda: ["thanks", "goodbye"])


class SessionSpec(BaseModel):
    """After `expire_after` without a buyer message, the next one starts over from the initial state."""

    model_config = ConfigDict(extra="forbid")

    expire_after: str | float
    say: str | None = None


class DialogSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    description: str | None = None
    include: list[str] = Field(default_factory=list)  # sub-dialogs merged in (see dialogs/compose.py)
    initial: str = "idle"
    settings: dict[str, Any] = Field(default_factory=dict)  # defaults; vendors override them
    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    states: dict[str, StateSpec]
    transitions: list[TransitionSpec] = Field(default_factory=list)
    global_transitions: list[TransitionSpec] = Field(default_factory=list, alias="global")
    fallback: FallbackSpec = Field(default_factory=FallbackSpec)
    system_triggers: list[str] = Field(default_factory=list)
    session: SessionSpec | None = None
    messages: dict[str, dict[str, Any]] = Field(default_factory=dict)  # wording of a vendor's own dialog
    # Actions the operator plugs in (PALABRE_ACTIONS, an action server). Until one is, the dialog still
    # loads: a condition naming it is false, a validator naming it accepts, an action does nothing.
    operator_actions: list[str] = Field(default_factory=list)

    _lists = field_validator("include", "operator_actions", mode="before")(_as_list)

    @field_validator("states", "slots", mode="before")
    @classmethod
    def _states(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if v is not None else {}) for k, v in value.items()}
        return value

    @field_validator("states", "slots", "settings")
    @classmethod
    def _names_ok(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not re.match(NAME, str(key)):
                raise ValueError(f"'{key}' is not a valid name (lowercase letters, digits, _)")
        return value

    @model_validator(mode="after")
    def _references(self) -> DialogSpec:
        if self.initial not in self.states:
            raise ValueError(f"initial state '{self.initial}' is not among the states")
        for group in (self.transitions, self.global_transitions):
            for t in group:
                for s in [*t.source, *([t.dest] if t.dest else [])]:
                    if s != "*" and s not in self.states:
                        raise ValueError(
                            f"transition '{'/'.join(t.trigger)}' names unknown state '{s}' "
                            f"(states: {', '.join(self.states)})"
                        )
        for name, state in self.states.items():
            if state.form:
                missing = [s for s in state.form.slots if s not in self.slots]
                if missing:
                    raise ValueError(f"state '{name}': form slots not declared under `slots`: {', '.join(missing)}")
            if state.timeout:
                try:
                    duration_seconds(state.timeout.after, self.settings)
                except ValueError as exc:
                    raise ValueError(f"state '{name}': timeout: {exc}") from None
        if self.session:
            duration_seconds(self.session.expire_after, self.settings)
        return self

    def all_system_triggers(self) -> frozenset[str]:
        """Declared system triggers plus each state timeout's."""
        return frozenset([*self.system_triggers, *(s.timeout.trigger for s in self.states.values() if s.timeout)])

    def callable_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(path in the YAML file, name) of every action and condition this dialog names."""
        refs: list[tuple[tuple[str | int, ...], str]] = []
        for state_name, state in self.states.items():
            refs += [(("states", state_name, "on_enter", i), n) for i, n in enumerate(state.on_enter)]
            refs += [(("states", state_name, "on_exit", i), n) for i, n in enumerate(state.on_exit)]
        refs += [(("slots", name, "validator"), s.validator) for name, s in self.slots.items() if s.validator]
        for group, transitions in (("transitions", self.transitions), ("global", self.global_transitions)):
            for i, t in enumerate(transitions):
                for field in ("conditions", "unless", "actions"):
                    refs += [((group, i, field, j), n) for j, n in enumerate(getattr(t, field))]
        return [(path, name) for path, name in refs if name not in self.operator_actions]

    def names_used(self) -> tuple[set[str], set[str]]:
        """(action and condition names, message names) this dialog refers to."""
        callables: set[str] = set()
        messages: set[str] = {self.fallback.say, self.fallback.stale_button, self.fallback.then_say}
        for state in self.states.values():
            callables.update([*state.on_enter, *state.on_exit])
            messages.update(m for m in (state.say, state.prompt) if m)
        for slot in self.slots.values():
            callables.update([slot.validator] if slot.validator else [])
            messages.update(m for m in (slot.ask, slot.invalid, slot.reask) if m)
        if self.session and self.session.say:
            messages.add(self.session.say)
        for t in [*self.transitions, *self.global_transitions]:
            callables.update([*t.conditions, *t.unless, *t.actions])
            messages.update(t.say)
        return callables, messages


class StateOverride(BaseModel):
    """A vendor's change to one state: the fields given replace the segment's, the others stay."""

    model_config = ConfigDict(extra="forbid")

    on_enter: list[str] | None = None
    on_exit: list[str] | None = None
    say: str | None = None
    prompt: str | None = None
    form: FormSpec | None = None
    timeout: TimeoutSpec | None = None
    tags: list[str] | None = None

    _lists = field_validator("on_enter", "on_exit", "tags", mode="before")(_as_list)


class FallbackOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    stale_button: str | None = None
    max_misses: int | None = Field(default=None, ge=1)
    then_say: str | None = None
    then: Literal["offer", "handoff"] | None = None


class DialogOverrides(BaseModel):
    """The `dialog:` section of a vendor file, merged onto its segment's dialog (dialogs/compose.py)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    states: dict[str, StateOverride] = Field(default_factory=dict)
    transitions: list[TransitionSpec] = Field(default_factory=list)
    global_transitions: list[TransitionSpec] = Field(default_factory=list, alias="global")
    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    fallback: FallbackOverride | None = None
    session: SessionSpec | None = None
    system_triggers: list[str] = Field(default_factory=list)

    @field_validator("states", "slots", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if v is not None else {}) for k, v in value.items()}
        return value

    def as_data(self) -> dict[str, Any]:
        """What was written, as plain data for the merge (unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude_none=False)
