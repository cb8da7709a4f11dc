"""Forms: a state that fills its slots one question at a time, with `back`, interrupts and re-asking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dialogs.registry import Registry, call
from dialogs.schema import DialogSpec, FormSpec
from dialogs.slots import extract, valid
from dialogs.turn import HANDOFF_SLOT, Turn

if TYPE_CHECKING:
    from dialogs.engine import Dialog

TRIES_SLOT = "_tries"
# "back" in words, for parsers that have no such intent; a button may also send the payload `back`
BACK_WORDS = frozenset({"back", "retour", "précédent", "precedent", "revenir", "go back", "previous"})


def _shared_place(turn: Turn, slot_type: str) -> str:
    """A location shared on WhatsApp or Telegram answers a text question ("Quelle est l'adresse de livraison ?") as
    its name or address and a map link the courier can open; nothing else is read from it."""
    place = turn.event.location
    if place is None or slot_type != "text":
        return ""
    named = place.address or place.name or ""
    return f"{named} https://maps.google.com/?q={place.latitude:.6f},{place.longitude:.6f}".strip()


class FormRunner:
    """Reads a buyer's answer into the slot a form is asking for; the Dialog owns everything else."""

    def __init__(self, spec: DialogSpec, registry: Registry, dialog: Dialog) -> None:
        self.slots = spec.slots
        self._registry = registry
        self._dialog = dialog

    def missing(self, turn: Turn, form: FormSpec) -> str | None:
        return next((s for s in form.slots if turn.slots.get(s) is None), None)

    def current_ask(self, turn: Turn, form: FormSpec) -> str | None:
        """The question to repeat for the slot the form waits for (its `reask`, else its `ask`)."""
        name = self.missing(turn, form)
        return (self.slots[name].reask or self.slots[name].ask) if name else None

    def prefill(self, turn: Turn, form: FormSpec) -> None:
        """Slots the entering message already answered ("je veux 2 robes" fills `quantity`)."""
        for name in form.slots:
            spec = self.slots[name]
            value = turn.entity(spec.entity or name)
            if turn.slots.get(name) is None and value not in (None, "") and not spec.validator and valid(spec, value):
                turn.slots[name] = value

    def ask_next(self, turn: Turn, form: FormSpec) -> None:
        name = self.missing(turn, form)
        if name is not None:
            turn.variables["slot"] = name
            ask = self.slots[name].ask
            if ask:
                turn.say(ask)

    async def _fire_and_reask(self, turn: Turn, trigger: str, form: FormSpec) -> bool:
        """Fire a transition for a message that is no answer; if it stayed in the form, ask the question again.

        As Rasa's forms do after an interruption: "c combien la livraison ?" while the address is asked is
        answered, then the address is asked for again, so the buyer knows what the bot still waits for.
        """
        state, said = turn.state, len(turn.says)
        if not await self._dialog.fire(turn, trigger):
            return False
        name = self.missing(turn, form)
        if name is None or turn.state != state or turn.slots.get(HANDOFF_SLOT):
            return True
        key = self.current_ask(turn, form)
        if key and not {self.slots[name].ask, key} & set(turn.says[said:]):
            turn.variables["slot"] = name
            turn.say(key)
        return True

    async def _accept(self, turn: Turn, form: FormSpec, name: str, value: Any) -> Any:
        spec = self.slots[name]
        if not valid(spec, value):
            return None
        if spec.validator:
            turn.variables.update(value=value, validating=name, form_slots=form.slots)
            try:
                verdict = await call(self._registry.get(spec.validator), turn)
            finally:
                turn.variables.pop("validating", None)
            if not verdict:
                return None
            value = turn.variables.get("value", value)
        return value

    async def handle(self, turn: Turn, trigger: str, form: FormSpec, *, is_button: bool) -> bool | None:
        """True/False when the form dealt with the message; None to let ordinary transitions try it."""
        name = self.missing(turn, form)
        if (turn.event.text or "").strip().casefold() in BACK_WORDS:
            trigger = "back"
        if trigger in form.interrupts:
            if trigger == "back":
                filled = [s for s in form.slots if turn.slots.get(s) is not None]
                if filled:
                    turn.slots.pop(filled[-1], None)
                    turn.slots.pop(TRIES_SLOT, None)
                    self.ask_next(turn, form)
                    return True
            if await self._fire_and_reask(turn, trigger, form):
                return True
        if name is None:
            return await self._dialog.fire(turn, form.done) or None
        spec = self.slots[name]
        text = "" if is_button else (turn.event.text or _shared_place(turn, spec.type))
        payload = turn.event.payload if is_button else None
        raw = extract(spec, text, payload, turn.entity(spec.entity or name), now=turn.clock(),
                      region=str(turn.settings.get("phone_region", "SN")))
        if raw is None and trigger != "nlu_fallback" and await self._fire_and_reask(turn, trigger, form):
            return True  # not an answer (e.g. "aide" to a number question): a transition took it
        value = await self._accept(turn, form, name, raw)
        if value is not None:
            turn.slots[name] = value
            turn.slots.pop(TRIES_SLOT, None)
            turn.slots.pop("_misses", None)
            if self.missing(turn, form) is None:
                if not await self._dialog.fire(turn, form.done):
                    return None
                return True
            self.ask_next(turn, form)
            return True
        tries = int(turn.slots.get(TRIES_SLOT, 0)) + 1
        turn.variables.update(slot=name, value=raw)
        if tries >= spec.max_attempts:
            turn.slots.pop(TRIES_SLOT, None)
            if await self._dialog.fire(turn, form.failed):
                return True
            fb = self._dialog.spec.fallback
            turn.say(fb.then_say)
            if fb.then == "handoff":
                turn.handoff("form")
            return False
        turn.slots[TRIES_SLOT] = tries
        turn.say(spec.invalid or spec.ask or self._dialog.spec.fallback.say)
        return False
