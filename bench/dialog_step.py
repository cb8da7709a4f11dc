"""One dialog step, no I/O: a 20-state dialog with forms, timeouts and `when` conditions; prints the median.

    .venv/bin/python bench/dialog_step.py [--steps 20000]

Target (issue 9): median ≤ 200 µs a step. Each sample is one buyer message through `Dialog.step`
(parse result in, message keys out), on a fresh Turn, so nothing is cached between samples.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from channels import Contact, Event
from dialogs import Dialog, DialogSpec, Registry, Turn


def spec() -> DialogSpec:
    states: dict[str, Any] = {"idle": {"prompt": "p"}}
    transitions: list[dict[str, Any]] = []
    for i in range(1, 20):
        name, prev = f"s{i}", ("idle" if i == 1 else f"s{i - 1}")
        state: dict[str, Any] = {"say": f"enter_{i}", "on_enter": "noop"}
        if i % 3 == 0:
            state["timeout"] = {"after": "wait_minutes", "trigger": "late"}
        if i % 4 == 0:
            state["form"] = {"slots": ["qty"]}
        states[name] = state
        transitions += [
            {"trigger": "next", "source": prev, "dest": name, "when": "slots.qty == none or slots.qty < 50",
             "conditions": "ok"},
            {"trigger": "next", "source": prev, "say": "refused"},
            {"trigger": "completed", "source": name, "dest": name, "set": {"qty": None}},
            {"trigger": "late", "source": name, "dest": "idle"},
        ]
    return DialogSpec.model_validate({
        "name": "bench", "settings": {"wait_minutes": 5},
        "slots": {"qty": {"type": "int", "min": 1, "max": 99, "ask": "ask_qty"}},
        "states": states, "transitions": transitions,
        "global": [{"trigger": "help", "say": "help"}, {"trigger": "cancel", "dest": "idle", "say": "bye"}],
    })


async def main(steps: int) -> None:
    reg = Registry()
    reg.add("noop", lambda t: None)
    reg.add("ok", lambda t: True)
    dialog = Dialog(spec(), reg)
    event = Event(id="e", channel="web", provider="simulator", vendor_id="v", contact=Contact(address="+221"),
                  text="suivant")
    parse = {"intent": {"name": "next", "confidence": 0.9}, "entities": [{"entity": "quantity", "value": 2}]}
    states = list(dialog.spec.states)
    samples = []
    for i in range(steps):
        turn = Turn(state=states[i % 19], slots={"qty": 3} if i % 2 else {}, event=event, parse=parse, now=1e9)
        started = time.perf_counter()
        await dialog.step(turn, "next" if i % 7 else "zzz")
        samples.append(time.perf_counter() - started)
    samples.sort()
    print(f"dialog step: {len(dialog.spec.states)} states, {steps} steps, median "
          f"{statistics.median(samples) * 1e6:.1f} µs, p99 {samples[int(len(samples) * 0.99)] * 1e6:.1f} µs "
          f"(target ≤ 200 µs median)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20000)
    asyncio.run(main(parser.parse_args().steps))
