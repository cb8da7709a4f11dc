"""rasa-sdk actions as dialog actions: in-process (rasa-sdk's own executor) or on a rasa-sdk action
server (its JSON webhook protocol). Both get the same action call and give the same result.

The action call carries a Tracker built from the turn (slots without private ones, the latest message
with its intent and entities); the result's `SlotSet` events are applied to the slots, its `response`
messages are said by key and its text messages are said through the `action_text` message. An action
used as a condition is true when it ran and was not rejected; a failed or slow server makes it false
(and is logged), so a dialog can answer "service unavailable" with the next transition.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from dialogs.registry import Registry
from dialogs.turn import Turn

log = logging.getLogger("palabre.actions")
ACTION_TEXT = "action_text"  # the message key that says an action's free text: "{{ action_text }}"
VALIDATING = "validating"  # turn.variables key set by a form while a validator runs (the slot's name)
FORM_SLOTS = "form_slots"  # ... and the slots of that form
RASA_VERSION = "3.21.1"


def action_call(turn: Turn, name: str) -> dict[str, Any]:
    """The JSON body rasa-sdk expects for running `name` against this turn.

    While a form validates an answer (`turn.variables["validating"]` names the slot), the tracker
    holds the candidate value as the last event and the domain declares the form `name` validates
    (rasa-sdk's FormValidationAction is named `validate_<form>`) with the form's slots.
    """
    slots = {k: v for k, v in turn.slots.items() if not k.startswith("_")}
    events: list[dict[str, Any]] = []
    slot = turn.variables.get(VALIDATING)
    form = {name.removeprefix("validate_"): list(turn.variables.get(FORM_SLOTS) or [slot])} if slot else {}
    if slot:
        # a FormValidationAction validates the slots set since the last other event
        slots[slot] = turn.variables.get("value")
        slots["requested_slot"] = slot
        events = [{"event": "slot", "name": slot, "value": turn.variables.get("value")}]
    parse = turn.parse or {}
    tracker = {
        "sender_id": turn.event.conversation_key,
        "slots": slots,
        "latest_message": {"text": turn.event.text or turn.event.payload, "intent": parse.get("intent") or {},
                           "entities": parse.get("entities") or [],
                           "intent_ranking": parse.get("intent_ranking") or []},
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": next(iter(form))} if form else {},
        "latest_action_name": None,
    }
    domain = {"slots": {k: {} for k in slots}, "forms": {f: {"required_slots": s} for f, s in form.items()}}
    return {"next_action": name, "sender_id": turn.event.conversation_key, "tracker": tracker, "domain": domain,
            "version": RASA_VERSION}


def apply_result(turn: Turn, events: Iterable[Any], responses: Iterable[Any]) -> dict[str, Any]:
    """Apply an action's events and responses to the turn; returns the slots it set."""
    set_slots: dict[str, Any] = {}
    for event in events:
        if isinstance(event, dict) and event.get("event") == "slot" and isinstance(event.get("name"), str):
            name = event["name"]
            if name.startswith("_") or name == "requested_slot":
                continue  # private slots belong to the engine
            set_slots[name] = event.get("value")
            if event.get("value") is None:
                turn.slots.pop(name, None)
            else:
                turn.slots[name] = event["value"]
    texts = []
    for message in responses:
        if not isinstance(message, dict):
            continue
        if message.get("response") or message.get("template"):
            turn.say(str(message.get("response") or message.get("template")))
        elif message.get("text"):
            texts.append(str(message["text"]))
    if texts:
        turn.say(ACTION_TEXT, action_text="\n".join(texts))
    return set_slots


def _validated(turn: Turn, set_slots: dict[str, Any]) -> bool:
    slot = turn.variables.get(VALIDATING)
    if slot not in set_slots:
        return True
    if set_slots[slot] is None:
        return False
    turn.variables["value"] = set_slots[slot]
    return True


class InProcessActions:
    """rasa-sdk Actions (and FormValidationActions) from operator modules, run in this process."""

    def __init__(self, modules: list[str]) -> None:
        from rasa_sdk.executor import ActionExecutor

        self._executor = ActionExecutor()
        for name in modules:
            module = importlib.import_module(name)  # an ImportError names the module, at start-up
            self._executor.register_package(module)

    def names(self) -> list[str]:
        return sorted(self._executor.actions)

    def action(self, name: str) -> Callable[[Turn], Any]:
        async def run(turn: Turn) -> bool:
            try:
                result = await self._executor.run(action_call(turn, name))
            except Exception as exc:  # rasa-sdk raises ActionExecutionRejection, or the action's own bug
                log.warning("action=%s failed in process (%s: %s)", name, type(exc).__name__, exc)
                return False
            if result is None:
                return False
            return _validated(turn, apply_result(turn, result.events, result.responses))

        return run

    def register(self, registry: Registry) -> None:
        for name in self.names():
            registry.add(name, self.action(name))


class RemoteActions:
    """Actions on a rasa-sdk action server (`python -m rasa_sdk --actions …`), by its webhook URL."""

    def __init__(self, endpoint: str, names: list[str], timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self._names = names
        self.timeout = timeout

    def names(self) -> list[str]:
        return list(self._names)

    def action(self, name: str) -> Callable[[Turn], Any]:
        async def run(turn: Turn) -> bool:
            body = action_call(turn, name)
            try:
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http, \
                        http.post(self.endpoint, json=body) as resp:
                    data = await resp.json(content_type=None)
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                log.warning("action=%s: action server unreachable or slow (%s)", name, type(exc).__name__)
                return False
            if status != 200 or not isinstance(data, dict):
                error = data.get("error") if isinstance(data, dict) else None
                log.warning("action=%s: action server answered %s (%s)", name, status, error or "no details")
                return False
            return _validated(turn, apply_result(turn, data.get("events") or [], data.get("responses") or []))

        return run

    def register(self, registry: Registry) -> None:
        for name in self._names:
            registry.add(name, self.action(name))

