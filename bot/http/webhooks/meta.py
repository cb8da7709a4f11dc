"""Meta WhatsApp Cloud API webhooks: per vendor and shared; GET handshake, POST signature check, parse, persist, 200.

Per-vendor URL (`/webhooks/meta/{vendor}`): every change signed with the vendor's app secret is the vendor's,
whichever of its numbers received it, so a number added to the vendor's WhatsApp account is answered at
once. Shared URL (`/webhooks/meta`, one Meta app for a whole platform): the operator's app secret signs,
and each change goes to the vendor whose `phone_number_ids` list its number.
"""

from __future__ import annotations

import logging
import weakref

from aiohttp import web

from bot.http import ApiError, header, parse_json
from bot.http.webhooks.intake import accept, channel_config, parse_events, read_raw
from bot.runtime import RUNTIME, Runtime
from channels import meta

log = logging.getLogger("palabre.webhooks.meta")

# Meta batches notifications; CHANNELS.md §2.1.9 asks for at least 4 MB on this route.
MIN_BODY_BYTES = 4 * 1024 * 1024


async def verify_webhook(request: web.Request) -> web.Response:
    """GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=… → 200 with the bare challenge, else 403."""
    vendor_id = request.match_info["vendor"]
    config: meta.Config = channel_config(request.app[RUNTIME], vendor_id, "meta", "WhatsApp (meta)")
    q = request.query
    if not meta.verify_subscription(_own(config.verify_token, vendor_id), q.get("hub.mode"), q.get("hub.verify_token")):
        log.warning("meta verification refused vendor=%s", vendor_id)
        raise ApiError(403, "invalid_verify_token", "hub.mode or hub.verify_token is wrong")
    return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")


async def meta_webhook(request: web.Request) -> web.Response:
    """POST: X-Hub-Signature-256 over the raw body (401 when missing or wrong); 200 once events are durable."""
    rt = request.app[RUNTIME]
    vendor_id = request.match_info["vendor"]
    config: meta.Config = channel_config(rt, vendor_id, "meta", "WhatsApp (meta)")
    signature = header(request, meta.SIGNATURE_HEADER)
    if not signature:
        log.warning("meta webhook rejected vendor=%s reason=missing signature", vendor_id)
        raise ApiError(401, "invalid_signature", "the X-Hub-Signature-256 header is missing or wrong")
    raw = await read_raw(request, MIN_BODY_BYTES)
    if not meta.verify_signature(_own(config.app_secret, vendor_id), raw, signature):
        log.warning("meta webhook rejected vendor=%s reason=bad signature", vendor_id)
        raise ApiError(401, "invalid_signature", "the X-Hub-Signature-256 header is missing or wrong")
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_notification", "the body is not a WhatsApp webhook notification")
    events = await parse_events(
        "meta", vendor_id, lambda: meta.parse_webhook(payload, vendor_id),
        "invalid_notification", "the body is not a WhatsApp webhook notification")
    return await accept(rt, events)


def _own(secret: str | None, vendor_id: str) -> str:
    """A per-vendor secret; a vendor without one is served on the shared URL only."""
    if not secret:
        raise ApiError(404, "no_vendor_webhook", f"vendor '{vendor_id[:64]}' has no app_secret and verify_token of "
                       "its own: it is served on the shared /webhooks/meta URL")
    return secret


_NUMBERS: weakref.WeakKeyDictionary[Runtime, dict[str, str]] = weakref.WeakKeyDictionary()


def vendor_for_number(rt: Runtime, phone_number_id: str) -> str | None:
    """The vendor listing this phone_number_id; the index is built once per runtime (vendor YAML is read
    at start-up), and the first vendor listing a number keeps it."""
    index = _NUMBERS.get(rt)
    if index is None:
        index = {}
        for vendor in rt.vendors.values():
            config = vendor.config.channels.get("meta")
            for number in config.phone_number_ids if config else []:
                index.setdefault(number, vendor.id)
        _NUMBERS[rt] = index
    return index.get(phone_number_id)


def _shared(secret: str | None) -> str:
    if not secret:
        raise ApiError(404, "not_configured", "the shared Meta webhook needs PALABRE_META_APP_SECRET and "
                       "PALABRE_META_VERIFY_TOKEN")
    return secret


async def verify_shared(request: web.Request) -> web.Response:
    """GET handshake of the shared URL, against the operator's PALABRE_META_VERIFY_TOKEN."""
    settings = request.app[RUNTIME].settings
    token = _shared(settings.meta_verify_token)
    _shared(settings.meta_app_secret)
    q = request.query
    if not meta.verify_subscription(token, q.get("hub.mode"), q.get("hub.verify_token")):
        log.warning("meta verification refused on the shared URL")
        raise ApiError(403, "invalid_verify_token", "hub.mode or hub.verify_token is wrong")
    return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")


async def shared_webhook(request: web.Request) -> web.Response:
    """POST signed with the operator's app secret; each change is routed by its phone_number_id, and a
    number no vendor lists is counted (palabre_meta_unknown_number_total) and answered 200 all the same."""
    rt = request.app[RUNTIME]
    secret = _shared(rt.settings.meta_app_secret)
    signature = header(request, meta.SIGNATURE_HEADER)
    raw = await read_raw(request, MIN_BODY_BYTES)
    if not signature or not meta.verify_signature(secret, raw, signature):
        log.warning("meta webhook rejected on the shared URL reason=%s signature",
                    "missing" if not signature else "bad")
        raise ApiError(401, "invalid_signature", "the X-Hub-Signature-256 header is missing or wrong")
    payload = parse_json(raw)
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_notification", "the body is not a WhatsApp webhook notification")
    changes = await parse_events("meta", "(shared)", lambda: meta.changes(payload), "invalid_notification",
                                 "the body is not a WhatsApp webhook notification")
    owners: dict[str, str] = {}
    for number in dict.fromkeys(n for n, _ in changes):
        vendor_id = vendor_for_number(rt, number)
        if vendor_id is None:
            rt.metrics.inc("palabre_meta_unknown_number_total")
            log.warning("meta webhook on the shared URL: phone_number_id=%s is listed by no vendor", number or "?")
        else:
            owners[number] = vendor_id
    events = await parse_events("meta", "(shared)", lambda: meta.parse_webhook(payload, owners),
                                "invalid_notification", "the body is not a WhatsApp webhook notification")
    return await accept(rt, events)


def routes() -> list[web.RouteDef]:
    return [web.get("/webhooks/meta", verify_shared), web.post("/webhooks/meta", shared_webhook),
            web.get("/webhooks/meta/{vendor}", verify_webhook), web.post("/webhooks/meta/{vendor}", meta_webhook)]
