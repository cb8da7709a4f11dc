"""Broadcasts through the API against a fake WhatsApp Cloud API: pace, pause/resume, opt-out, quotas, hours."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.campaigns import optout
from channels import Contact, Event
from tests.campaigns.conftest import AUTH, TEMPLATE, TOKEN, FakeWhatsApp, contacts_csv, meta_vendor_dir
from tests.channels import test_meta as meta
from tests.conftest import ROOT, Server, ServerFactory, eventually

API = "/api/vendors/demo"


async def call(server: Server, method: str, path: str, body: Any = None, *, status: int = 200,
               data: bytes | None = None) -> Any:
    async with server.http.request(method, f"{server.url}{API}{path}", json=body if data is None else None,
                                   data=data, headers=AUTH) as r:
        answer = await r.json()
        assert r.status == status, answer
        return answer


async def ready(start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch,
                contacts: int = 10, **import_options: str) -> Server:
    """A server whose demo vendor sends WhatsApp through the fake, with contacts and the promo template."""
    server = await start_server(vendors_dir=meta_vendor_dir(tmp_path, whatsapp.base, monkeypatch), admin_token=TOKEN)
    report = await call(server, "POST", "/contacts/import?default_region=SN",
                        data=contacts_csv(contacts, **import_options))
    assert report["created"] == contacts
    await call(server, "PUT", "/templates/promo", TEMPLATE)
    await call(server, "PUT", "/campaign-settings", {"night_allowed": True})
    return server


async def campaign(server: Server, cid: str) -> dict[str, Any]:
    return await call(server, "GET", f"/campaigns/{cid}")


async def finished(server: Server, cid: str, timeout: float = 20.0) -> dict[str, Any]:
    async def done() -> bool:
        return (await campaign(server, cid))["status"] == "completed"
    await eventually(done, f"campaign {cid} to complete", timeout=timeout)
    return await call(server, "GET", f"/campaigns/{cid}/report")


async def test_a_broadcast_sends_the_template_once_to_each_consenting_contact(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=12)
    await call(server, "POST", "/contacts/import", data=b"phone,tags,opt_in,nom\n+221780000001,promo,non,X\n"
                                                        b"+221780000002,promo,,Y\n+221780000003,autre,oui,Z\n")
    created = await call(server, "POST", "/campaigns", {"template": "promo", "tag": "promo", "rate": 50, "start": True},
                         status=201)
    report = await finished(server, created["id"])
    assert report["counts"]["queued"] + report["counts"]["sent"] == 12
    assert sorted(whatsapp.per_recipient) == sorted(f"22177{i:07d}" for i in range(12))
    assert set(whatsapp.per_recipient.values()) == {1}
    body = whatsapp.bodies[0]
    assert body["type"] == "template" and body["template"]["name"] == "promo_noel"
    params = [p["text"] for p in body["template"]["components"][0]["parameters"]]
    assert params[1] == "Dakar" and params[0].startswith("Client ")
    assert body["biz_opaque_callback_data"].startswith(f"campaign:{created['id']}:")


async def test_provider_429_and_500_are_retried_and_nobody_gets_two(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=6)
    whatsapp.fail_with = [429, 500, 429]
    created = await call(server, "POST", "/campaigns", {"template": "promo", "tag": "promo", "rate": 20, "start": True},
                         status=201)
    await finished(server, created["id"])
    await eventually(lambda: len(whatsapp.per_recipient) == 6, "every contact to be messaged", timeout=20)
    assert set(whatsapp.per_recipient.values()) == {1}


async def test_pause_stops_sending_resume_finishes_and_an_opt_out_meanwhile_is_honoured(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=12)
    created = await call(server, "POST", "/campaigns", {"template": "promo", "tag": "promo", "rate": 4, "start": True},
                         status=201)
    await eventually(lambda: len(whatsapp.bodies) >= 2, "the first messages")
    paused = await call(server, "POST", f"/campaigns/{created['id']}/pause")
    assert paused["status"] == "paused"
    await asyncio.sleep(0.6)
    count = len(whatsapp.bodies)
    await asyncio.sleep(1.0)
    assert len(whatsapp.bodies) == count < 12  # nothing goes out while paused
    # A contact not messaged yet writes STOP while the campaign is paused: the campaign must skip them.
    last = next(f"+22177{i:07d}" for i in range(12) if f"22177{i:07d}" not in whatsapp.per_recipient)
    stop = Event(id="stop-1", channel="whatsapp", provider="meta", vendor_id="demo", contact=Contact(address=last),
                 text="Stop")
    assert await optout.handle(server.runtime.campaigns.store, stop, "fr")
    await call(server, "POST", f"/campaigns/{created['id']}/pause", status=409)
    await call(server, "POST", f"/campaigns/{created['id']}/resume")
    report = await finished(server, created["id"])
    assert report["counts"]["opted_out"] == 1
    assert last.lstrip("+") not in whatsapp.per_recipient
    assert len(whatsapp.per_recipient) == 11 and set(whatsapp.per_recipient.values()) == {1}


async def test_a_campaign_past_the_plan_quota_is_refused_before_anything_is_sent(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=6)
    await call(server, "PUT", "/campaign-settings", {"night_allowed": True, "plan": {"messages_per_month": 5}})
    created = await call(server, "POST", "/campaigns", {"template": "promo", "tag": "promo"}, status=201)
    refused = await call(server, "POST", f"/campaigns/{created['id']}/start", status=402)
    assert refused["error"]["code"] == "quota_exceeded"
    assert "5 messages a month" in refused["error"]["message"]
    assert (await campaign(server, created["id"]))["status"] == "draft"
    await asyncio.sleep(0.5)
    assert not whatsapp.bodies


async def test_the_daily_limit_pauses_the_campaign_with_a_reason(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=6)
    await call(server, "PUT", "/campaign-settings", {"night_allowed": True, "daily_limit": {"whatsapp": 4}})
    created = await call(server, "POST", "/campaigns", {"template": "promo", "tag": "promo", "rate": 50, "start": True},
                         status=201)

    async def paused() -> bool:
        return (await campaign(server, created["id"]))["status"] == "paused"
    await eventually(paused, "the campaign to pause at its daily limit")
    assert "daily limit" in (await campaign(server, created["id"]))["error"]
    await eventually(lambda: len(whatsapp.bodies) == 4, "the 4 allowed messages")
    await asyncio.sleep(0.3)
    assert len(whatsapp.bodies) == 4


async def test_nothing_is_sent_outside_sending_hours(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=3)
    now = dt.datetime.now(dt.UTC)  # the demo vendor is in Africa/Dakar, which is UTC
    closed = [(now + dt.timedelta(hours=2)).strftime("%H:%M"), (now + dt.timedelta(hours=3)).strftime("%H:%M")]
    await call(server, "PUT", "/campaign-settings", {"hours": closed})
    created = await call(server, "POST", "/campaigns", {"template": "promo", "tag": "promo", "rate": 50, "start": True},
                         status=201)
    await asyncio.sleep(1.5)
    assert not whatsapp.bodies and (await campaign(server, created["id"]))["status"] == "running"
    await call(server, "PUT", "/campaign-settings", {"night_allowed": True})
    await finished(server, created["id"])
    await eventually(lambda: len(whatsapp.per_recipient) == 3, "the messages once hours allow")


async def test_a_scheduled_campaign_waits_for_its_time(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=2)
    at = server.runtime.clock() + 1.5
    created = await call(server, "POST", "/campaigns", {"template": "promo", "tag": "promo", "at": at, "start": True},
                         status=201)
    assert created["status"] == "scheduled"
    await asyncio.sleep(0.8)
    assert not whatsapp.bodies
    await finished(server, created["id"])
    assert len(whatsapp.per_recipient) == 2


async def test_ab_variants_are_dealt_out_and_reported_per_variant(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=6)
    other = {**TEMPLATE, "whatsapp": {**TEMPLATE["whatsapp"], "name": "promo_noel_b"}}  # type: ignore[dict-item]
    await call(server, "PUT", "/templates/promo_b", other)
    created = await call(server, "POST", "/campaigns", {"templates": ["promo", "promo_b"], "tag": "promo",
                                                        "rate": 50, "start": True}, status=201)
    report = await finished(server, created["id"])
    assert {name: sum(v["counts"].values()) for name, v in report["variants"].items()} == {"promo": 3, "promo_b": 3}
    assert sorted(b["template"]["name"] for b in whatsapp.bodies) == ["promo_noel"] * 3 + ["promo_noel_b"] * 3
    async with server.http.get(f"{server.url}{API}/campaigns/{created['id']}/report?format=csv", headers=AUTH) as r:
        lines = (await r.text()).splitlines()
    assert lines[0] == "contact_id,name,variant,status,error" and len(lines) == 7
    assert "+221" not in "".join(lines)  # no phone number in a report that travels by e-mail


async def test_segments_are_saved_filters_with_live_counts(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=4)
    await call(server, "POST", "/contacts/import", data=b"phone,tags,opt_in,ville\n+221780000001,promo,oui,Thies\n")
    saved = await call(server, "PUT", "/segments/thies", {"filter": {"attributes": {"ville": "Thies"}}})
    assert saved["count"] == 1
    await call(server, "POST", "/contacts/import", data=b"phone,opt_in,ville\n+221780000002,oui,Thies\n")
    [listed] = (await call(server, "GET", "/segments"))["segments"]
    assert listed["count"] == 2  # counted now, not when saved
    created = await call(server, "POST", "/campaigns", {"template": "promo", "segment": "thies", "rate": 50,
                                                        "start": True}, status=201)
    await finished(server, created["id"])
    assert sorted(whatsapp.per_recipient) == ["221780000001", "221780000002"]


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"template": "promo", "tag": "promo", "segment": "x"}, 400, "invalid_audience"),
    ({"template": "nope", "tag": "promo"}, 404, "unknown_template"),
    ({"template": "promo", "segment": "nope"}, 404, "unknown_segment"),
    ({"template": "promo", "tag": "promo", "rate": "fast"}, 400, "invalid_rate"),
    ({"template": "promo", "tag": "promo", "channel": "fax"}, 400, "invalid_channel"),
    ([1, 2], 400, "invalid_body"),
])
async def test_bad_campaign_requests_get_a_json_error(start_server: ServerFactory, tmp_path: Path,
                                                       whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch,
                                                       body: Any, status: int, code: str) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=1)
    answer = await call(server, "POST", "/campaigns", body, status=status)
    assert answer["error"]["code"] == code


async def test_a_template_with_a_placeholder_but_no_variable_is_refused(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=1)
    answer = await call(server, "PUT", "/templates/bad", {"sms": "Bonjour {{3}}", "variables": []}, status=400)
    assert answer["error"] == {"code": "invalid_template", "message": "sms: {{3}} has no variable (variables has 0)"}


async def test_meta_status_webhooks_move_each_recipient_forward_in_the_report(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await start_server(vendors_dir=meta.meta_vendor(tmp_path, whatsapp.base, monkeypatch), admin_token=TOKEN)
    await call(server, "POST", "/contacts/import?default_region=SN", data=contacts_csv(2))
    await call(server, "PUT", "/templates/promo", TEMPLATE)
    await call(server, "PUT", "/campaign-settings", {"night_allowed": True})
    created = await call(server, "POST", "/campaigns", {"id": "st", "template": "promo", "tag": "promo", "rate": 50,
                                                        "start": True}, status=201)
    await finished(server, created["id"])
    await eventually(lambda: len(whatsapp.bodies) == 2, "both messages")
    first, second = whatsapp.bodies
    for n, (body, status) in enumerate([(first, "read"), (first, "delivered"), (second, "failed")]):
        # Statuses arrive out of order: a late "delivered" must not undo "read".
        raw = meta.status_update(f"wamid.S{n}", status, recipient_id=body["to"],
                                 biz_opaque_callback_data=body["biz_opaque_callback_data"])
        assert await meta.post(server, raw) == 200

    async def counted() -> bool:
        counts = (await call(server, "GET", "/campaigns/st/report"))["counts"]
        return counts["read"] == 1 and counts["failed"] == 1
    await eventually(counted, "the statuses in the report")


async def test_palabre_broadcast_on_the_command_line_is_sent_by_the_running_server(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=3)
    vendors = server.runtime.settings.vendors_dir
    data = server.runtime.settings.data_dir
    env = {**os.environ, "WA_TOKEN_DEMO": "EAAG-token", "WA_APP_SECRET_DEMO": "app-secret", "WA_VERIFY_DEMO": "verify"}
    command = [sys.executable, "-m", "bot", "broadcast", "--vendor", "demo", "--template", "promo", "--tag", "promo",
               "--rate", "20", "--id", "cli", "--vendors", vendors, "--data-dir", data]
    done = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, env=env, capture_output=True, text=True,
                                   timeout=60)
    assert done.returncode == 0, done.stderr
    assert '"status": "running"' in done.stdout
    await finished(server, "cli")
    assert len(whatsapp.per_recipient) == 3
    again = await asyncio.to_thread(subprocess.run, command, cwd=ROOT, env=env, capture_output=True, text=True,
                                    timeout=60)
    assert again.returncode == 0 and '"status": "completed"' in again.stdout  # a retried command sends nothing
    both = await asyncio.to_thread(subprocess.run, [*command, "--segment", "vip"], cwd=ROOT, env=env,
                                   capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "not allowed with argument --tag" in both.stderr
    nope = [c if c != "promo" or i != command.index("--template") + 1 else "nope" for i, c in enumerate(command)]
    unknown = await asyncio.to_thread(subprocess.run, [*nope, "--id", "other"], cwd=ROOT, env=env,
                                      capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 1 and "no template 'nope'" in unknown.stderr


async def test_a_segment_on_recent_activity_counts_contacts_who_wrote(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=3)
    saved = await call(server, "PUT", "/segments/recent", {"filter": {"active_within_days": 7}})
    assert saved["count"] == 0
    await server.say("+221770000001", "Bonjour")  # one imported contact writes (on the simulator)
    await server.runtime.pipeline.idle()
    [segment] = (await call(server, "GET", "/segments"))["segments"]
    assert segment["count"] == 1


async def test_contacts_who_wrote_are_recorded_active_by_the_campaign_loop_and_at_stop(
        start_server: ServerFactory, tmp_path: Path, whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch) -> None:
    """Activity is looked up in batches, not per message: nobody asks for a count, yet it lands within a tick
    of the campaigns loop; what a stopping server noted is still written."""
    server = await ready(start_server, tmp_path, whatsapp, monkeypatch, contacts=3)
    store = server.runtime.campaigns.store

    async def active(phone: str) -> bool:
        contact = await store.find_contact("demo", phone)
        return contact is not None and contact.last_active_at is not None

    await server.say("+221770000001", "Bonjour")
    await server.say("+221779999999", "Bonjour")  # a buyer who is not a contact: nothing to record
    await server.runtime.pipeline.idle()
    await eventually(lambda: active("+221770000001"), "the contact's activity to be recorded", timeout=10)
    assert await store.find_contact("demo", "+221779999999") is None
    await server.say("+221770000002", "Bonjour")
    await server.runtime.pipeline.idle()
    await server.runtime.campaigns.stop()  # before the loop's next tick
    await store.start()
    assert await active("+221770000002")
    assert not await active("+221770000000")  # imported, never wrote
