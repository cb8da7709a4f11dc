"""Wasender webhook endpoints: shared-secret check, payload → Event, status correlation, session state."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.http import ApiError, header, parse_json, secure_equal
from bot.http.webhooks.intake import accept, parse_events, read_raw
from bot.runtime import RUNTIME, Runtime
from channels import Event, wasender

log = logging.getLogger("palabre.webhooks.wasender")

# Numbers change on restart or on an import (which refreshes the answers it affects in this process's
# cache); this bounds how long an answer cached by another process can stay stale.
LOOKUP_TTL = 300.0
MISS_TTL = 30.0  # short, so that a vendor added to a running cluster is found soon
ECHO_TTL = 3 * 86400.0  # WhatsApp keeps trying to deliver a message for days; its statuses trickle in as long
HEALTHY = frozenset({"connected", "connecting"})


@dataclass(frozen=True)
class ConnectionState:
    """The last `session.status` a vendor's Wasender session reported to this process."""

    status: str
    at: float

    @property
    def connected(self) -> bool:
        return self.status == "connected"


_STATES: weakref.WeakKeyDictionary[Runtime, dict[str, ConnectionState]] = weakref.WeakKeyDictionary()


def connection_state(rt: Runtime, vendor_id: str) -> ConnectionState | None:
    """The last known session state of a vendor's number (None until Wasender reported one)."""
    return _STATES.get(rt, {}).get(vendor_id)


def connection_states(rt: Runtime) -> dict[str, ConnectionState]:
    """Every vendor's last known session state, for the admin API."""
    return dict(_STATES.get(rt, {}))


def record_connection(rt: Runtime, vendor_id: str, status: str) -> ConnectionState:
    """Keep the new state; a number that stops being connected is logged at WARNING once per change."""
    states = _STATES.setdefault(rt, {})
    previous = states.get(vendor_id)
    state = ConnectionState(status=status, at=time.time())
    states[vendor_id] = state
    if previous is not None and previous.status == status:
        log.debug("wasender session vendor=%s still %s", vendor_id, status)
    elif status in HEALTHY:
        log.info("wasender session vendor=%s is %s", vendor_id, status)
    else:
        log.warning("wasender session vendor=%s is %s: the vendor's WhatsApp number cannot send or receive "
                    "until it is reconnected in the Wasender dashboard", vendor_id, status)
    return state


def _config(rt: Runtime, vendor_id: str) -> wasender.Config | None:
    vendor = rt.vendors.get(vendor_id)
    config = vendor.config.channels.get("wasender") if vendor else None
    return config if isinstance(config, wasender.Config) else None


def _matches(config: wasender.Config, value: str) -> bool:
    phone = wasender.to_e164(value)
    if phone is not None and phone == config.phone_number:
        return True
    if secure_equal(value, config.instance_id):
        return True
    # Wasender's examples put the session's API key in `sessionId`; compared like the secret it is.
    return secure_equal(value, config.api_key)


def _scan(rt: Runtime, value: str) -> str | None:
    for vendor_id in rt.vendors:
        config = _config(rt, vendor_id)
        if config is not None and _matches(config, value):
            return vendor_id
    return None


def _lookup_key(value: str) -> str:
    return "wasender:vendor:" + hashlib.sha256((wasender.to_e164(value) or value).encode()).hexdigest()[:40]


async def refresh_lookups(rt: Runtime, values: Iterable[str | None]) -> None:
    """Answer again, from the vendors as they are now, the cached lookups of these numbers, ids or keys.

    Called when a vendor's number changes while running (an import), so that `vendor_for_number` does
    not serve the old vendor, or an old "nobody", for minutes. The cache has no delete: the fresh answer
    overwrites the stale one.
    """
    for value in {v.strip() for v in values if isinstance(v, str) and v.strip()}:
        found = _scan(rt, value)
        try:
            await rt.coordinator.cache_set(_lookup_key(value), found or "", LOOKUP_TTL if found else MISS_TTL)
        except Exception:
            log.warning("wasender vendor lookup: could not refresh a cached answer", exc_info=True)


async def vendor_for_number(rt: Runtime, number_or_instance_id: str) -> str | None:
    """The vendor whose Wasender number (any spelling), instance id or session key this is; cached.

    The cache is the coordinator's (Redis when configured, shared by every process). Its key is a
    hash of the value, so no session key ever lands in Redis in clear.
    """
    value = number_or_instance_id.strip() if isinstance(number_or_instance_id, str) else ""
    if not value:
        return None
    key = _lookup_key(value)
    try:
        cached = await rt.coordinator.cache_get(key)
    except Exception:
        log.warning("wasender vendor lookup: cache unavailable, scanning vendors", exc_info=True)
        cached = None
    if cached == "":
        return None
    if cached is not None and _config(rt, cached) is not None:
        return cached
    found = _scan(rt, value)
    try:
        await rt.coordinator.cache_set(key, found or "", LOOKUP_TTL if found else MISS_TTL)
    except Exception:
        log.warning("wasender vendor lookup: could not cache the answer", exc_info=True)
    return found


async def _vendor_of_payload(rt: Runtime, payload: Any, signature: str | None) -> str | None:
    ids = await parse_events("wasender", None, lambda: wasender.session_ids(payload), "invalid_payload",
                             "the body is not a Wasender webhook object")
    for value in ids:
        vendor_id = await vendor_for_number(rt, value)
        if vendor_id is not None:
            return vendor_id
    # No identifier we know (Wasender's message examples carry none): the secret itself names the vendor.
    if not signature:
        return None
    found = [v for v in rt.vendors
             if (c := _config(rt, v)) is not None and wasender.verify(c.webhook_secret, signature)]
    return found[0] if len(found) == 1 else None


def _norm(text: str) -> str:
    return " ".join(text.split())


async def _msg_id_for(rt: Runtime, vendor_id: str, wa_id: str) -> str | None:
    """Our send-message id for a WhatsApp message id, found through the `fromMe` echo of that message.

    Wasender's send response gives its own integer `msgId`, while status webhooks name the WhatsApp
    `key.id`. The echo gives key.id, recipient and text; the transcript gives the text and msgId of what
    we sent that recipient. The first match not claimed yet wins, and the link is cached.
    """
    link_key = f"wasender:wamid:{vendor_id}:{wa_id}"
    linked = await rt.coordinator.cache_get(link_key)
    if linked:
        return linked
    raw = await rt.coordinator.cache_get(f"wasender:echo:{vendor_id}:{wa_id}")
    if not raw:
        return None
    echo = json.loads(raw)
    text = _norm(echo["text"])
    for msg in await rt.store.transcript(f"{vendor_id}:whatsapp:{echo['to']}"):
        pmid = msg.provider_message_id
        # Only ids our sender returned (Wasender's msgId is an integer); a Meta wamid in the same
        # WhatsApp conversation is never one of ours.
        if msg.direction != "out" or not pmid or not pmid.isdigit() or msg.reply is None:
            continue
        if _norm(wasender.outgoing_texts(msg.reply)[-1]) != text:
            continue
        claim = f"wasender:claimed:{vendor_id}:{pmid}"
        if await rt.coordinator.cache_get(claim):
            continue
        await rt.coordinator.cache_set(claim, wa_id, ECHO_TTL)
        await rt.coordinator.cache_set(link_key, pmid, ECHO_TTL)
        return pmid
    return None


async def _link_statuses(rt: Runtime, vendor_id: str, payload: Any, events: list[Event]) -> list[Event]:
    """Remember our echoes, and point status events at the message id our sender stored."""
    try:
        for echo in wasender.echoes(payload):
            await rt.coordinator.cache_set(f"wasender:echo:{vendor_id}:{echo.wa_id}",
                                           json.dumps({"to": echo.to, "text": echo.text}), ECHO_TTL)
        out: list[Event] = []
        for event in events:
            wa_id = event.data.get("wa_id")
            if event.kind == "status" and wa_id and event.provider_message_id == wa_id:
                msg_id = await _msg_id_for(rt, vendor_id, wa_id)
                if msg_id:
                    event = event.model_copy(update={"provider_message_id": msg_id})
            out.append(event)
        return out
    except Exception:
        # Correlation is a nicety: the status still goes in, under the WhatsApp id.
        log.warning("wasender status correlation failed for vendor=%s", vendor_id, exc_info=True)
        return events


def _json(raw: bytes) -> Any:
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_payload", "the body is not a Wasender webhook object")
    return payload


def _authenticate(rt: Runtime, vendor_id: str, signature: str | None) -> None:
    config = _config(rt, vendor_id)
    if config is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}' with a Wasender channel")
    if not wasender.verify(config.webhook_secret, signature):
        log.warning("wasender webhook rejected for vendor=%s: %s secret header", vendor_id,
                    "missing" if not signature else "wrong")
        raise ApiError(401, "invalid_signature", "the X-Webhook-Signature header is missing or wrong")


async def handle(request: web.Request, vendor_id: str | None) -> web.Response:
    """Authenticate (the header is the vendor's secret), parse, persist, then 200. Any route takes any
    Wasender event, since a session has a single webhook URL for all of them.

    On a vendor's own URL the secret is checked before the body is read, so an unauthenticated caller
    cannot make us read (up to the body limit) and parse; the shared URL needs the body to find the vendor,
    so there a missing secret header is refused first.
    """
    rt = request.app[RUNTIME]
    signature = header(request, wasender.SIGNATURE_HEADER)
    if vendor_id is not None:
        _authenticate(rt, vendor_id, signature)
    elif not signature:
        raise ApiError(401, "invalid_signature", "the X-Webhook-Signature header is missing or wrong")
    payload = _json(await read_raw(request))
    if vendor_id is None:
        vendor_id = await _vendor_of_payload(rt, payload, signature)
        if vendor_id is None:
            log.warning("wasender webhook on the shared URL matched no vendor (no known session id or secret)")
            raise ApiError(401, "unknown_session", "no vendor matches this session and secret")
        _authenticate(rt, vendor_id, signature)
    known = vendor_id
    events, status = await parse_events(
        "wasender", known, lambda: (wasender.parse_payload(payload, known), wasender.session_status(payload)),
        "invalid_payload", "the body is not a Wasender webhook object")
    if status is not None:
        record_connection(rt, vendor_id, status)
    return await accept(rt, await _link_statuses(rt, vendor_id, payload, events))


async def vendor_webhook(request: web.Request) -> web.Response:
    return await handle(request, request.match_info["vendor"])


async def shared_webhook(request: web.Request) -> web.Response:
    return await handle(request, None)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/webhooks/wasender", shared_webhook),
        web.post("/webhooks/wasender/{vendor}", vendor_webhook),
        web.post("/webhooks/wasender/{vendor}/status", vendor_webhook),
        web.post("/webhooks/wasender/{vendor}/connection", vendor_webhook),
    ]
