"""The YAML dialog schema v1: states, transitions, global transitions and the fallback policy."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME = r"^[a-z][a-z0-9_]*$"


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class StateSpec(BaseModel):
    """A state: actions run and a message said on entering it; `prompt` reminds the buyer what to do."""

    model_config = ConfigDict(extra="forbid")

    on_enter: list[str] = Field(default_factory=list)
    say: str | None = None
    prompt: str | None = None

    _lists = field_validator("on_enter", mode="before")(_as_list)


class TransitionSpec(BaseModel):
    """trigger (intent, button id or system event) from source to dest, if conditions hold."""

    model_config = ConfigDict(extra="forbid")

    trigger: list[str]
    source: list[str] = Field(default_factory=lambda: ["*"])
    dest: str | None = None
    conditions: list[str] = Field(default_factory=list)
    unless: list[str] = Field(default_factory=list)
    actions: list[str] = Field(default_factory=list)
    say: list[str] = Field(default_factory=list)

    _lists = field_validator("trigger", "source", "conditions", "unless", "actions", "say", mode="before")(
        _as_list
    )

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


class DialogSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    description: str | None = None
    initial: str = "idle"
    slots: dict[str, Any] = Field(default_factory=dict)
    states: dict[str, StateSpec]
    transitions: list[TransitionSpec] = Field(default_factory=list)
    global_transitions: list[TransitionSpec] = Field(default_factory=list, alias="global")
    fallback: FallbackSpec = Field(default_factory=FallbackSpec)
    system_triggers: list[str] = Field(default_factory=list)

    @field_validator("states", mode="before")
    @classmethod
    def _states(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (v if v is not None else {}) for k, v in value.items()}
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
        return self

    def callable_refs(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(path in the YAML file, name) of every action and condition this dialog names."""
        refs: list[tuple[tuple[str | int, ...], str]] = []
        for state_name, state in self.states.items():
            refs += [(("states", state_name, "on_enter", i), n) for i, n in enumerate(state.on_enter)]
        for group, transitions in (("transitions", self.transitions), ("global", self.global_transitions)):
            for i, t in enumerate(transitions):
                for field in ("conditions", "unless", "actions"):
                    refs += [((group, i, field, j), n) for j, n in enumerate(getattr(t, field))]
        return refs

    def names_used(self) -> tuple[set[str], set[str]]:
        """(action and condition names, message names) this dialog refers to."""
        callables: set[str] = set()
        messages: set[str] = {self.fallback.say, self.fallback.stale_button, self.fallback.then_say}
        for state in self.states.values():
            callables.update(state.on_enter)
            messages.update(m for m in (state.say, state.prompt) if m)
        for t in [*self.transitions, *self.global_transitions]:
            callables.update([*t.conditions, *t.unless, *t.actions])
            messages.update(t.say)
        return callables, messages
