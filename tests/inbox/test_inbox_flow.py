"""A handoff from the buyer's side and the agent's: claim, reply, the bot's silence, release, resolve and CSAT."""

from __future__ import annotations

import re
import uuid

import pytest

from bot.inbox.users import add_user
from tests.conftest import MONGODB_URI, ServerFactory, eventually
from tests.inbox.conftest import BUYER, CONV, Inbox, conv_path


async def _outbound(inbox: Inbox, buyer: str = BUYER) -> list[str]:
    return [m["text"] for m in await inbox.server.transcript(buyer) if m["direction"] == "out"]


async def test_asking_for_a_human_puts_the_conversation_in_the_inbox(inbox: Inbox) -> None:
    answer = await inbox.handoff()
    assert "conseiller" in answer["replies"][0]["text"].lower()
    listed = (await inbox.ok("GET", "/api/inbox/conversations"))["conversations"]
    assert [c["id"] for c in listed] == [CONV]
    item = listed[0]
    assert item["vendor"] == "demo" and item["channel"] == "web" and item["status"] == "open"
    assert item["assignee"] is None and item["waiting_since"] is not None
    assert item["last_message"]["text"] == "je veux parler à un conseiller"
    assert item["reason"] == "human"


async def test_the_bot_stays_silent_while_an_agent_owns_the_conversation(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/claim"))
    before = await _outbound(inbox)
    answer = await inbox.server.say(BUYER, "ROBE1")
    assert answer["replies"] == []
    assert await _outbound(inbox) == before
    detail = await inbox.ok("GET", conv_path())
    assert detail["messages"][-1] == {**detail["messages"][-1], "author": "buyer", "text": "ROBE1"}
    assert detail["last_message"]["text"] == "ROBE1"


async def test_an_agent_reply_reaches_the_buyer_on_their_channel(inbox: Inbox) -> None:
    await inbox.handoff()
    sent = await inbox.ok("POST", conv_path(tail="/messages"), json={"text": "Bonjour, je suis Awa. Je regarde."})
    assert sent["author"] == "agent" and sent["agent"] == "support-1"
    await eventually(lambda: _has_text(inbox, "Bonjour, je suis Awa. Je regarde."), "the reply in the transcript")
    detail = await inbox.ok("GET", conv_path())
    assert detail["assignee"] == "support-1" and detail["status"] == "assigned"  # replying takes the conversation
    assert detail["first_response_seconds"] is not None and detail["first_response_seconds"] >= 0
    assert detail["waiting_since"] is None
    assert [m["author"] for m in detail["messages"]] == ["buyer", "bot", "agent"]


async def _has_text(inbox: Inbox, text: str) -> bool:
    return text in await _outbound(inbox)


async def test_release_hands_back_to_the_bot_which_answers_the_next_message(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/claim"))
    assert (await inbox.server.say(BUYER, "bonjour"))["replies"] == []
    released = await inbox.ok("POST", conv_path(tail="/release"))
    assert released["status"] == "resolved"
    answer = await inbox.server.say(BUYER, "ROBE1")
    assert any("Robe Wax" in (r["text"] or "") for r in answer["replies"]), answer
    detail = await inbox.ok("GET", conv_path())
    assert detail["in_handoff"] is False and detail["csat"] == {"pending": False, "score": None}


async def test_resolve_asks_for_a_score_and_stores_it(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/claim"))
    await inbox.ok("POST", conv_path(tail="/resolve"))
    question = (await inbox.server.transcript(BUYER))[-1]
    assert "1" in question["text"] and [b["id"] for b in question["buttons"]] == [f"csat:{n}" for n in range(1, 6)]
    thanks = await inbox.server.say(BUYER, payload="csat:4")
    assert thanks["replies"] == []  # the thanks goes through the outbox, not as the bot's answer
    await eventually(lambda: _has_text(inbox, "Merci pour votre note ! L'assistant reste à votre disposition."),
                     "the thanks for the score")
    detail = await inbox.ok("GET", conv_path())
    assert detail["csat"] == {"pending": False, "score": 4}
    assert detail["status"] == "resolved" and detail["resolution_seconds"] is not None
    answer = await inbox.server.say(BUYER, "ROBE1")
    assert answer["replies"], "the bot answers again after the survey"


async def test_a_message_that_is_not_a_score_goes_to_the_bot(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/resolve"))
    await inbox.server.say(BUYER, "ROBE1")
    await eventually(lambda: _any_contains(inbox, "Robe Wax"), "the bot's answer to ROBE1 after the survey")
    detail = await inbox.ok("GET", conv_path())
    assert detail["csat"] == {"pending": False, "score": None} and detail["in_handoff"] is False


async def _any_contains(inbox: Inbox, text: str) -> bool:
    return any(text in (t or "") for t in await _outbound(inbox))


async def test_a_second_handoff_reopens_the_thread(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/release"))
    await inbox.handoff(text="je veux parler à un humain")
    listed = (await inbox.ok("GET", "/api/inbox/conversations", params={"status": "open"}))["conversations"]
    assert [c["id"] for c in listed] == [CONV]


async def test_a_complaint_opens_a_ticket_with_a_category(inbox: Inbox) -> None:
    await inbox.server.say(BUYER, "je veux faire une réclamation, mon colis n'est jamais arrivé")
    listed = (await inbox.ok("GET", "/api/inbox/conversations"))["conversations"]
    assert listed and listed[0]["reason"] == "complaint" and listed[0]["category"] == "delivery", listed


async def test_notes_stay_private(inbox: Inbox) -> None:
    await inbox.handoff()
    note = await inbox.ok("POST", conv_path(tail="/notes"), json={"text": "client fidèle, geste possible"})
    assert note["author"] == "support-1"
    detail = await inbox.ok("GET", conv_path())
    assert [n["text"] for n in detail["notes"]] == ["client fidèle, geste possible"]
    assert not await _any_contains(inbox, "client fidèle")


async def test_claim_by_a_second_agent_is_refused_but_a_manager_may_take_over(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/claim"), role="support")
    status, body = await inbox.call("POST", conv_path(tail="/claim"), role="admin")
    assert status == 200 and body["assignee"] == "admin-1"  # admins may take a conversation over
    token = await add_user(inbox.server.runtime.inbox.store, "support-2", "support", ["demo"])
    status, body = await inbox.call("POST", conv_path(tail="/claim"), token=token)
    assert status == 409 and body["error"]["code"] == "already_claimed"


async def test_assign_gives_the_conversation_to_an_agent(inbox: Inbox) -> None:
    await inbox.handoff()
    body = await inbox.ok("POST", conv_path(tail="/assign"), role="manager", json={"user": "support-1"})
    assert body["assignee"] == "support-1" and body["status"] == "assigned"
    mine = await inbox.ok("GET", "/api/inbox/conversations", params={"assignee": "support-1"})
    assert [c["id"] for c in mine["conversations"]] == [CONV]
    status, body = await inbox.call("POST", conv_path(tail="/assign"), role="manager", json={"user": "cashier-1"})
    assert status == 400 and body["error"]["code"] == "unknown_user"
    body = await inbox.ok("POST", conv_path(tail="/assign"), role="manager", json={"user": None})
    assert body["assignee"] is None and body["status"] == "open"


async def test_snooze_hides_until_the_buyer_writes(inbox: Inbox) -> None:
    await inbox.handoff()
    body = await inbox.ok("POST", conv_path(tail="/snooze"), json={"until": None})
    assert body["status"] == "snoozed"
    assert (await inbox.ok("GET", "/api/inbox/conversations", params={"status": "open"}))["conversations"] == []
    await inbox.server.say(BUYER, "vous êtes là ?")
    listed = (await inbox.ok("GET", "/api/inbox/conversations", params={"status": "open"}))["conversations"]
    assert [c["id"] for c in listed] == [CONV]


async def test_snooze_until_a_time_that_has_passed_lists_it_as_open(inbox: Inbox) -> None:
    import time

    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/snooze"), json={"until": time.time() + 0.3})
    assert (await inbox.ok("GET", "/api/inbox/conversations", params={"status": "snoozed"}))["conversations"]
    await eventually(lambda: _listed(inbox, "open"), "the snooze to run out")


async def _listed(inbox: Inbox, status: str) -> bool:
    return bool((await inbox.ok("GET", "/api/inbox/conversations", params={"status": status}))["conversations"])


async def test_labels_and_filters(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.handoff(buyer="+221770000002", text="je veux parler à quelqu'un")
    body = await inbox.ok("PUT", conv_path(tail="/labels"), json={"labels": ["VIP", "livraison", "vip"]})
    assert body["labels"] == ["livraison", "vip"]
    found = await inbox.ok("GET", "/api/inbox/conversations", params={"q": "vip"})
    assert [c["id"] for c in found["conversations"]] == [CONV]
    assert len((await inbox.ok("GET", "/api/inbox/conversations", params={"channel": "web"}))["conversations"]) == 2
    assert (await inbox.ok("GET", "/api/inbox/conversations", params={"channel": "sms"}))["conversations"] == []
    assert (await inbox.ok("GET", "/api/inbox/conversations", params={"vendor": "other"}))["conversations"] == []


async def test_the_order_context_is_shown_with_the_conversation(inbox: Inbox) -> None:
    await inbox.server.say(BUYER, "ROBE1")
    await inbox.handoff()
    detail = await inbox.ok("GET", conv_path())
    assert [o["product_code"] for o in detail["orders"]] == ["ROBE1"]
    assert detail["orders"][0]["total"] == 15000 and detail["orders"][0]["status"] == "reserved"


async def test_buyer_numbers_are_masked_unless_the_role_reads_contacts(inbox: Inbox) -> None:
    await inbox.handoff()
    support = (await inbox.ok("GET", conv_path(), role="support"))["contact"]["address"]
    manager = (await inbox.ok("GET", conv_path(), role="manager"))["contact"]["address"]
    assert manager == BUYER
    assert support != BUYER and support.endswith("001") and "****" in support


async def test_every_agent_action_is_in_the_audit_log(inbox: Inbox) -> None:
    await inbox.handoff()
    await inbox.ok("POST", conv_path(tail="/claim"))
    await inbox.ok("POST", conv_path(tail="/messages"), json={"text": "Bonjour"})
    await inbox.ok("POST", conv_path(tail="/notes"), json={"text": "note"})
    await inbox.ok("POST", conv_path(tail="/release"))
    entries = (await inbox.ok("GET", "/api/inbox/audit", role="admin"))["entries"]
    actions = [(e["actor"], e["action"]) for e in reversed(entries) if e["conversation_id"] == CONV]
    assert actions == [("bot", "handoff"), ("support-1", "claim"), ("support-1", "reply"), ("support-1", "note"),
                       ("support-1", "release")]
    assert BUYER not in str(entries).replace(CONV, "")


@pytest.mark.skipif(not MONGODB_URI, reason="needs MONGODB_URI (CI runs it on FerretDB)")
async def test_a_whole_handoff_with_the_inbox_on_mongodb(start_server: ServerFactory) -> None:
    server = await start_server(store="mongo", mongodb_uri=MONGODB_URI, mongodb_db=f"palabre_test_{uuid.uuid4().hex}")
    assert type(server.runtime.inbox.store).__name__ == "MongoInboxStore"
    box = Inbox(server, {"support": await add_user(server.runtime.inbox.store, "awa", "support", ["demo"])})
    await box.handoff()
    await box.ok("POST", conv_path(tail="/claim"))
    await box.ok("POST", conv_path(tail="/messages"), json={"text": "Bonjour de Mongo"})
    assert (await server.say(BUYER, "ROBE1"))["replies"] == []
    await box.ok("POST", conv_path(tail="/release"))
    assert (await server.say(BUYER, "ROBE1"))["replies"]


async def test_a_payment_during_a_handoff_still_confirms_the_order(inbox: Inbox) -> None:
    """System turns (payments, reminders, expiry) still run while an agent owns the conversation; only
    the buyer's messages go unanswered by the bot."""
    await inbox.server.say(BUYER, "ROBE1")
    await inbox.server.say(BUYER, payload="pay")
    link = re.search(r"https?://\S+", (await inbox.server.say(BUYER, payload="wave"))["replies"][0]["text"])
    assert link
    await inbox.handoff(text="je veux parler à un conseiller avant de payer")
    await inbox.ok("POST", conv_path(tail="/claim"))
    async with inbox.server.http.post(link.group(0), data={"outcome": "paid"}) as r:
        assert r.status == 200
    await eventually(lambda: _any_contains(inbox, "Paiement reçu"), "the payment confirmation during the handoff")
    detail = await inbox.ok("GET", conv_path())
    assert detail["orders"][0]["status"] == "paid" and detail["in_handoff"] is True
    assert (await inbox.server.say(BUYER, "merci"))["replies"] == []  # still with the agent
