"""Drawing a dialog as Mermaid `stateDiagram-v2` text (GitHub, GitLab and mermaid.live render it)."""

from __future__ import annotations

from dialogs.schema import DialogSpec, TransitionSpec


def _label(t: TransitionSpec, trigger_names: str) -> str:
    parts = [trigger_names]
    guards = [*t.conditions, *(f"not {u}" for u in t.unless), *([t.when] if t.when else []),
              *(f"has {e}" for e in t.entities)]
    if guards:
        parts.append(f"[{' and '.join(guards)}]")
    # Mermaid reads ':' as the label separator and '#'/';' specially: keep labels plain
    return " ".join(parts).replace(":", " ").replace(";", ",").replace("#", "")


def mermaid(spec: DialogSpec) -> str:
    """The dialog's states and transitions; global transitions are drawn as a note (they apply everywhere)."""
    lines = ["stateDiagram-v2", f"    [*] --> {spec.initial}"]
    for name, state in spec.states.items():
        notes = []
        if state.form:
            notes.append(f"form: {', '.join(state.form.slots)}")
        if state.timeout:
            notes.append(f"timeout {state.timeout.after} → {state.timeout.trigger}")
        if state.tags:
            notes.append(f"tags: {', '.join(state.tags)}")
        if notes:
            lines.append(f"    note right of {name}: {'; '.join(notes).replace(':', ' ')}")
    seen: set[str] = set()
    for t in spec.transitions:
        sources = list(spec.states) if "*" in t.source else t.source
        for source in sources:
            dest = t.dest or source
            line = f"    {source} --> {dest}: {_label(t, ' / '.join(t.trigger))}"
            if line not in seen:
                seen.add(line)
                lines.append(line)
    for t in spec.global_transitions:
        if t.dest:
            lines.append(f"    {spec.initial} --> {t.dest}: {_label(t, ' / '.join(t.trigger))} (anywhere)")
    handled = sorted({tr for t in spec.global_transitions if not t.dest for tr in t.trigger})
    if handled:
        lines.append(f"    note left of {spec.initial}: anywhere, answered in place - {', '.join(handled)}")
    return "\n".join(lines) + "\n"
