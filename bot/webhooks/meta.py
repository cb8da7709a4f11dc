"""Meta WhatsApp Cloud API webhook: GET verification handshake; POST signature check, parse, persist, 200."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from bot.errors import ApiError
from bot.runtime import RUNTIME, Runtime
from channels import meta

log = logging.getLogger("palabre.webhooks.meta")

# Meta batches notifications; CHANNELS.md §2.1.9 asks for at least 4 MB on this route.
MIN_BODY_BYTES = 4 * 1024 * 1024


def _config(rt: Runtime, vendor_id: str) -> meta.Config:
    vendor = rt.vendors.get(vendor_id)
    config = vendor.config.channels.get("meta") if vendor else None
    if config is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id}' with a WhatsApp (meta) channel")
    return config


async def verify_webhook(request: web.Request) -> web.Response:
    """GET ?hub.mode=subscribe&hub.verify_token=…&hub.challenge=… → 200 with the bare challenge, else 403."""
    vendor_id = request.match_info["vendor"]
    config = _config(request.app[RUNTIME], vendor_id)
    q = request.query
    if not meta.verify_subscription(config.verify_token, q.get("hub.mode"), q.get("hub.verify_token")):
        log.warning("meta verification refused vendor=%s mode=%r", vendor_id, q.get("hub.mode"))
        raise ApiError(403, "invalid_verify_token", "hub.mode or hub.verify_token is wrong")
    return web.Response(text=q.get("hub.challenge", ""), content_type="text/plain")


async def _read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, exactly as sent (the signature covers these bytes), up to `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "body_too_large", "the request body is too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", "the request body is too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def meta_webhook(request: web.Request) -> web.Response:
    """POST: X-Hub-Signature-256 over the raw body (401 when missing or wrong); 200 once events are durable."""
    rt = request.app[RUNTIME]
    vendor_id = request.match_info["vendor"]
    config = _config(rt, vendor_id)
    header = request.headers.get(meta.SIGNATURE_HEADER)
    if not header:
        log.warning("meta webhook rejected vendor=%s reason=missing signature", vendor_id)
        raise ApiError(401, "invalid_signature", "the X-Hub-Signature-256 header is missing or wrong")
    raw = await _read_body(request, max(rt.settings.max_body_bytes, MIN_BODY_BYTES))
    if not meta.verify_signature(config.app_secret, raw, header):
        log.warning("meta webhook rejected vendor=%s reason=bad signature", vendor_id)
        raise ApiError(401, "invalid_signature", "the X-Hub-Signature-256 header is missing or wrong")
    try:
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            raise TypeError("not an object")
        events = meta.parse_webhook(payload, vendor_id, config.phone_number_id)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ApiError(400, "invalid_notification", "the body is not a WhatsApp webhook notification") from None
    if events:
        await rt.pipeline.ingest(events)
    return web.json_response({"ok": True})


def routes() -> list[web.RouteDef]:
    return [web.get("/webhooks/meta/{vendor}", verify_webhook), web.post("/webhooks/meta/{vendor}", meta_webhook)]
