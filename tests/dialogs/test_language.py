"""The dialog language: typed slots, forms with back and cancel, on_exit, durable timeouts, safe
conditions, entity presence, included sub-dialogs and the fallback policy's handoff."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from channels import Contact, Event
from dialogs import Dialog, DialogSpec, Registry, Turn, YamlInvalid, read_dialog
from dialogs.expr import ExprError, compile_expr
from dialogs.slots import SlotSpec, extract, valid

NOW = 1_781_000_000.0

LOAN = """
name: loan
settings: {answer_minutes: 30, max_amount: 500000}
slots:
  amount: {type: amount, min: 10000, max: 2000000, ask: ask_amount, invalid: bad_amount, max_attempts: 2}
  months: {type: int, min: 1, max: 24, ask: ask_months}
  purpose: {type: choice, choices: [stock, equipment, other], ask: ask_purpose}
states:
  idle: {prompt: p_idle}
  applying:
    form: {slots: [amount, months, purpose]}
    on_exit: left_form
    timeout: {after: answer_minutes, trigger: too_slow}
  review:
    say: summary
  officer:
    tags: [handoff]
    on_enter: hand_over
transitions:
  - {trigger: loan, source: idle, dest: applying}
  - {trigger: cancel, source: applying, dest: idle, set: {amount: null, months: null, purpose: null}, say: cancelled}
  - {trigger: completed, source: applying, dest: review, when: "slots.amount <= settings.max_amount"}
  - {trigger: completed, source: applying, dest: officer, say: too_big}
  - {trigger: too_slow, source: applying, dest: idle, say: timed_out}
  - {trigger: buy, source: idle, entities: product, say: has_product}
  - {trigger: buy, source: idle, say: which_product}
global:
  - {trigger: help, say: help}
fallback: {max_misses: 2, then: handoff}
"""


def make(text: str = LOAN, **extra: Any) -> tuple[Dialog, list[str]]:
    calls: list[str] = []
    reg = Registry()
    reg.add("left_form", lambda t: calls.append("left"))
    reg.add("hand_over", lambda t: t.handoff("loan"))
    data = yaml.safe_load(text)
    data.update(extra)
    return Dialog(DialogSpec.model_validate(data), reg), calls


def msg(text: str | None = None, payload: str | None = None, eid: str = "e1", **data: Any) -> Event:
    return Event(id=eid, kind="postback" if payload else "message", channel="web", provider="simulator",
                 vendor_id="v", contact=Contact(address="+221770000001"), text=text, payload=payload, data=data)


async def say(d: Dialog, turn: Turn, text: str, intent: str = "inform", entities: list[Any] | None = None,
              payload: str | None = None) -> list[str]:
    turn.event = msg(text, payload, eid=f"e{len(turn.says)}")
    turn.parse = {"intent": {"name": intent}, "entities": entities or []}
    before = len(turn.says)
    await d.step(turn, intent, is_button=payload is not None)
    return turn.says[before:]


def new_turn(state: str = "idle") -> Turn:
    return Turn(state=state, slots={}, event=msg("x"), parse={}, now=NOW)


async def test_a_form_asks_one_slot_at_a_time_rejects_bad_answers_and_completes() -> None:
    d, _ = make()
    t = new_turn()
    assert await say(d, t, "je veux un prêt", "loan") == ["ask_amount"]
    assert t.state == "applying" and t.timers[0].trigger == "too_slow"
    assert t.timers[0].due_at == NOW + 30 * 60
    assert await say(d, t, "5 francs") == ["bad_amount"]
    assert await say(d, t, "150 000 F") == ["ask_months"] and t.slots["amount"] == 150000
    assert await say(d, t, "douze") == ["ask_purpose"] and t.slots["months"] == 12
    assert await say(d, t, "", "equipment", payload="equipment") == ["summary"]
    assert t.state == "review" and t.slots["purpose"] == "equipment"


async def test_back_forgets_the_last_answer_and_cancel_leaves_the_form() -> None:
    d, calls = make()
    t = new_turn()
    await say(d, t, "prêt", "loan")
    await say(d, t, "200k")
    assert await say(d, t, "retour", "back") == ["ask_amount"] and "amount" not in t.slots
    await say(d, t, "200k")
    assert await say(d, t, "annuler", "cancel") == ["cancelled"]
    assert t.state == "idle" and "amount" not in t.slots and calls == ["left"]
    assert t.timers == [] and t.cancelled_timers == [], "a timeout started and left in one turn leaves no row"


async def test_too_many_wrong_answers_hand_the_conversation_over() -> None:
    d, _ = make()
    t = new_turn()
    await say(d, t, "prêt", "loan")
    await say(d, t, "abc")
    assert await say(d, t, "rien") == ["offer_human"]
    assert t.slots["handoff_requested"] is True and t.slots["_handoff_reason"] == "form"


async def test_a_condition_routes_the_completed_form() -> None:
    d, _ = make()
    t = new_turn()
    await say(d, t, "prêt", "loan")
    await say(d, t, "900 000")
    await say(d, t, "3")
    assert await say(d, t, "3") == ["too_big"]
    assert t.state == "officer" and t.slots["_handoff_reason"] == "loan"


async def test_a_state_timeout_fires_its_transition_but_a_stale_one_is_dropped() -> None:
    d, _ = make()
    t = new_turn()
    await say(d, t, "prêt", "loan")
    timer = t.timers[0]
    stale = Turn(state="applying", slots=dict(t.slots), event=msg(eid="t0", timeout="old-timer"),
                 parse={}, now=NOW)
    assert not await d.step(stale, "too_slow") and stale.says == []
    t.event = Event(id="timer", kind="system", channel="web", provider="simulator", vendor_id="v",
                    contact=Contact(address="+221770000001"), payload="too_slow", data=timer.data)
    assert await d.step(t, "too_slow")
    assert t.state == "idle" and t.says[-1] == "timed_out" and "_timeout" not in t.slots


async def test_leaving_a_timed_state_in_a_later_turn_cancels_its_timer() -> None:
    d, _ = make()
    t = new_turn()
    await say(d, t, "prêt", "loan")
    timer_id = t.timers[0].id
    later = Turn(state=t.state, slots=dict(t.slots), event=msg(eid="e9"), parse={}, now=NOW + 60)
    await say(d, later, "stop", "cancel")
    assert later.cancelled_timers == [timer_id]


async def test_entity_presence_picks_the_transition() -> None:
    d, _ = make()
    t = new_turn()
    assert await say(d, t, "je veux la robe", "buy", [{"entity": "product", "value": "ROBE1"}]) == ["has_product"]
    assert await say(d, t, "je veux acheter", "buy") == ["which_product"]


async def test_a_condition_reads_the_intents_ranked_next_to_the_first() -> None:
    d, _ = make(transitions=[{"trigger": "appointment", "source": "idle", "when": "'cancel' in intents",
                              "say": "cancelled"},
                             {"trigger": "appointment", "source": "idle", "say": "booked"}])
    t = new_turn()
    t.event = msg("annuler mon rdv")
    t.parse = {"intent": {"name": "appointment"}, "entities": [],
               "intent_ranking": [{"name": "appointment", "confidence": 0.57}, {"name": "cancel", "confidence": 0.37}]}
    await d.step(t, "appointment")
    t.parse["intent_ranking"][1]["confidence"] = 0.01  # a trace of `cancel` is no contender
    await d.step(t, "appointment")
    assert t.says == ["cancelled", "booked"]


async def test_misses_reprompt_then_hand_over_when_the_policy_says_so() -> None:
    d, _ = make()
    t = new_turn()
    assert await say(d, t, "zzz", "nlu_fallback") == ["not_understood"]
    assert await say(d, t, "zzz", "nlu_fallback") == ["offer_human"]
    assert t.slots["handoff_requested"] is True


@pytest.mark.parametrize("expr", [
    "__import__('os').system('id')", "slots.__class__", "open('x')", "[x for x in slots]",
    "lambda: 1", "slots['a']", "settings.a.b", "x", "slots.a if 1 else 2",
])
def test_conditions_refuse_anything_but_the_small_language(expr: str) -> None:
    with pytest.raises(ExprError):
        compile_expr(expr)


def test_conditions_read_slots_settings_and_buyer_and_tolerate_unset_values() -> None:
    scope = {"slots": {"qty": 3}, "settings": {"max": 5}, "buyer": {"channel": "sms"}, "entities": {}}
    assert compile_expr("slots.qty <= settings.max and buyer.channel in ['sms', 'email']")(scope)
    assert not compile_expr("slots.missing > 2")(scope)
    assert compile_expr("not slots.missing && slots.qty * 2 == 6")(scope)


def test_a_bad_condition_is_reported_at_its_line(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("name: d\nstates:\n  idle: {}\ntransitions:\n  - trigger: go\n"
                 "    when: \"open('/etc/passwd')\"\n", encoding="utf-8")
    with pytest.raises(YamlInvalid) as err:
        read_dialog(f)
    assert err.value.problems[0].line == 6 and "'Call' is not allowed" in err.value.problems[0].message


@pytest.mark.parametrize(("kind", "text", "expected"), [
    ("int", "3", 3), ("int", "trois", 3), ("int", "beaucoup", None), ("int", "ñaar", 2),
    ("int", "nett", 3),  # Wolof, with or without the tilde
    ("amount", "50 000 F", 50000), ("amount", "75k", 75000), ("amount", "1,5 million", 1_500_000),
    ("phone", "77 123 45 67", "+221771234567"), ("phone", "0033612345678", "+33612345678"), ("phone", "12", None),
    ("date", "demain", "2026-06-10"), ("date", "25/12", "2026-12-25"), ("date", "31/02", None),
    ("time", "14h30", "14:30"), ("time", "9h", "09:00"), ("product", "robe 1", "ROBE1"),
])
def test_typed_slots_read_what_buyers_write(kind: str, text: str, expected: Any) -> None:
    assert extract(SlotSpec(type=kind), text, None, None, now=NOW) == expected  # type: ignore[arg-type]


def test_slot_validation_checks_bounds_regex_and_choices() -> None:
    assert not valid(SlotSpec(type="int", min=1, max=5), 6)
    assert valid(SlotSpec(type="text", regex=r"[A-Z]{3}\d+"), "ABC12")
    assert not valid(SlotSpec(type="text", min=3), "ab")
    assert extract(SlotSpec(type="choice", choices=["S", "M", "L"]), "2", None, None, now=NOW) == "M"


def test_a_question_asked_back_is_not_a_text_answer() -> None:
    # "c combien la livraison pour Pikine ?" to the address question was noted as the delivery address
    assert extract(SlotSpec(type="text"), "c combien la livraison pour Pikine ?", None, None, now=NOW) is None
    assert extract(SlotSpec(type="text"), "Pikine Icotaf, rue 12", None, None, now=NOW) == "Pikine Icotaf, rue 12"


def test_a_choice_told_in_words_is_the_slots_other_choice() -> None:
    # "pour mon commerce de tissus" to "Pour quel usage ?" was asked again three times, then handed over
    purpose = SlotSpec(type="choice", choices=["stock", "equipment", "other"], other="other")
    assert extract(purpose, "pour mon commerce de tissus", None, None, now=NOW) == "other"
    assert extract(purpose, "Stock", None, None, now=NOW) == "stock"
    assert extract(purpose, "150000", None, None, now=NOW) is None  # a stray number is not a purpose
    assert extract(SlotSpec(type="choice", choices=["S", "M"]), "la plus grande", None, None, now=NOW) is None
    with pytest.raises(ValueError, match="`other` must be one of the choices"):
        SlotSpec(type="choice", choices=["S", "M"], other="XL")


def test_an_included_sub_dialog_is_merged_under_the_dialog(tmp_path: Path) -> None:
    f = tmp_path / "d.yaml"
    f.write_text("name: d\ninclude: payment\nstates:\n  idle: {}\n  offered: {prompt: mine}\n", encoding="utf-8")
    spec, _ = read_dialog(f)
    assert {"choosing_payment", "awaiting_payment"} <= set(spec.states)
    assert "payment_succeeded" in spec.all_system_triggers()
    f.write_text("name: d\ninclude: [paiement]\nstates:\n  idle: {}\n", encoding="utf-8")
    with pytest.raises(YamlInvalid, match="no sub-dialog 'paiement'"):
        read_dialog(f)


async def test_entering_a_state_tagged_handoff_hands_the_conversation_over() -> None:
    d, _ = make(states={"idle": {"prompt": "p_idle"}, "desk": {"tags": ["handoff"], "say": "agent_soon"}},
                transitions=[{"trigger": "human", "source": "idle", "dest": "desk"}],
                slots={}, **{"global": []}, fallback={"max_misses": 2, "then": "offer"})
    t = new_turn()
    assert await say(d, t, "un conseiller svp", "human") == ["agent_soon"]
    assert t.state == "desk"
    assert t.slots["handoff_requested"] is True and t.slots["_handoff_reason"] == "desk"
