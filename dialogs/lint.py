"""Warnings about a dialog that is valid but probably not what its author meant (`palabre check`)."""

from __future__ import annotations

from collections.abc import Mapping

from dialogs.choices import TYPES
from dialogs.schema import DialogSpec
from intents.lexicon import INTENTS

# Triggers nothing but a button or the engine produces, which are never a typo.
ENGINE_TRIGGERS = frozenset({"start", "back", "more"})
FINAL_TAGS = frozenset({"end", "final", "handoff"})


def _sources(spec: DialogSpec, sources: list[str]) -> list[str]:
    return list(spec.states) if "*" in sources else sources


def warnings(spec: DialogSpec, buttons: Mapping[str, set[str]]) -> list[str]:
    """Unreachable states, dead ends, triggers nothing produces, buttons nothing consumes.

    `buttons` maps each message key to the ids of its buttons (in any locale).
    """
    out: list[str] = []
    edges: dict[str, set[str]] = {s: set() for s in spec.states}
    for t in [*spec.transitions, *spec.global_transitions]:
        if t.dest:
            for source in _sources(spec, t.source):
                edges[source].add(t.dest)
    reached, todo = {spec.initial}, [spec.initial]
    while todo:
        for nxt in edges[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    out += [f"state '{s}' cannot be reached from '{spec.initial}'" for s in spec.states if s not in reached]
    leaving = {s for s, dests in edges.items() if dests - {s}}
    for name, state in spec.states.items():
        if name not in leaving and name != spec.initial and not FINAL_TAGS & set(state.tags):
            out.append(f"state '{name}' is a dead end: no transition leaves it (tag it `end` if that is meant)")
    forms = {t for s in spec.states.values() if s.form for t in (s.form.done, s.form.failed)}
    all_buttons = {b for ids in buttons.values() for b in ids}
    known = set(INTENTS) | spec.all_system_triggers() | forms | ENGINE_TRIGGERS | all_buttons
    triggers = {tr for t in [*spec.transitions, *spec.global_transitions] for tr in t.trigger}
    out += [f"trigger '{tr}': no intent, button, form or system event produces it" for tr in sorted(triggers - known)]
    answers = {c for slot in spec.slots.values() for c in slot.choices}
    used = spec.names_used()[1]
    for key, ids in sorted(buttons.items()):
        if key not in used:
            continue
        for b in sorted(ids):
            if b not in triggers and b not in answers and not b.isdigit() and not b.startswith(TYPES):
                out.append(f"message '{key}': button '{b}' is taken by no transition")
    return out
