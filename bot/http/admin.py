"""The admin API under /api/admin (bearer token): vendors' WhatsApp numbers, webhook registration, number import."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web

from bot import numbers
from bot.http import ApiError, read_body, read_json, require_bearer, secure_equal
from bot.http.webhooks.wasender import connection_state
from bot.runtime import RUNTIME, Runtime
from bot.vendors import Vendor
from channels import wasender

log = logging.getLogger("palabre.admin")

DISABLED = "admin API disabled: set PALABRE_ADMIN_TOKEN"
# What Palabre reads (docs/channels/wasender.md): upsert carries incoming messages and our echoes.
WEBHOOK_EVENTS = ("messages.upsert", "messages.update", "session.status")
CSV_TYPES = frozenset({"text/csv", "text/plain", "application/csv", "application/vnd.ms-excel"})


def admin_runtime(request: web.Request) -> Runtime:
    """The runtime, once the request carries the admin token (compared in constant time)."""
    rt = request.app[RUNTIME]
    token = rt.settings.admin_token
    if not token:
        raise ApiError(403, "admin_disabled", DISABLED)
    require_bearer(request, token, "PALABRE_ADMIN_TOKEN")
    return rt


def admin_vendor(rt: Runtime, request: web.Request) -> Vendor:
    vendor_id = request.match_info["vendor"]
    vendor = rt.vendors.get(vendor_id)
    if vendor is None:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}'")
    return vendor


def _webhook_url(rt: Runtime, vendor_id: str) -> str:
    return f"{rt.settings.base_url}/webhooks/wasender/{vendor_id}"


async def vendor_numbers(request: web.Request) -> web.Response:
    """The vendor's WhatsApp numbers, where they come from, their state and the URL to paste; no secret."""
    rt = admin_runtime(request)
    vendor = admin_vendor(rt, request)
    imported = numbers.imported_vendors(rt)
    items: list[dict[str, Any]] = []
    config = vendor.config.channels.get("wasender")
    if isinstance(config, wasender.Config):
        state = connection_state(rt, vendor.id)
        items.append({
            "provider": "wasender",
            "phone_number": config.phone_number,  # the vendor's own business number, not a buyer's
            "instance_id": config.instance_id,
            "business_name": imported.get(vendor.id),
            "source": "imported" if vendor.id in imported else "yaml",
            "connection": {"status": state.status, "at": state.at} if state else None,
            "webhook_url": _webhook_url(rt, vendor.id),
        })
    meta = vendor.config.channels.get("meta")
    if meta is not None:
        items.append({"provider": "meta", "phone_number_id": meta.phone_number_id, "source": "yaml",
                      "webhook_url": f"{rt.settings.base_url}/webhooks/meta/{vendor.id}"})
    return web.json_response({"vendor": vendor.id, "numbers": items})


def _provider_message(data: dict[str, Any], status: int) -> str:
    parts = [str(data["message"])] if isinstance(data.get("message"), str) and data["message"] else []
    errors = data.get("errors")
    if isinstance(errors, dict):  # Laravel's validation errors: {"field": ["what is wrong"]}
        parts += [str(m) for msgs in errors.values() for m in (msgs if isinstance(msgs, list) else [msgs])]
    return "; ".join(parts)[:300] or f"HTTP {status}"


async def _session_id(request: web.Request, config: wasender.Config) -> str:
    """Wasender's numeric session id: `session_id` in the JSON body, else the number's instance id."""
    value: Any = None
    if request.body_exists:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_body", 'the body must be a JSON object like {"session_id": 37637}')
        value = body.get("session_id")
    if value is None:
        value = config.instance_id
    text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit()):
        # The value itself is not echoed: Wasender's own examples use a session's API key as its id.
        raise ApiError(409, "session_id_needed",
                       "Wasender's session endpoints take the session's number (the digits in the dashboard's "
                       "address, …/whatsapp/37637/edit) and this number's instance id is not one: send "
                       '{"session_id": 37637}')
    return text


async def register_webhook(request: web.Request) -> web.Response:
    """Point the vendor's Wasender session at this server: PUT /api/whatsapp-sessions/{id}.

    Wasender documents that call with a personal access token and the fields webhook_url, webhook_enabled
    and webhook_events; it takes no webhook secret, so the session's own secret, which it sends back, is
    compared with Palabre's and only the verdict is returned.
    """
    rt = admin_runtime(request)
    vendor = admin_vendor(rt, request)
    config = vendor.config.channels.get("wasender")
    if not isinstance(config, wasender.Config):
        raise ApiError(404, "no_number", f"vendor '{vendor.id}' has no Wasender number")
    session_id = await _session_id(request, config)
    url = _webhook_url(rt, vendor.id)
    if not rt.settings.public_url or not url.startswith("https://"):
        # Registering a local address would replace a working webhook with one Wasender cannot reach.
        raise ApiError(409, "no_public_url",
                       "set PALABRE_PUBLIC_URL to this server's public https:// address first: Wasender must reach "
                       f"the webhook, and {url} is not such an address")
    token = rt.settings.wasender_access_token
    if not token:
        raise ApiError(409, "not_configured",
                       "set PALABRE_WASENDER_ACCESS_TOKEN to a Wasender personal access token (not a session's API "
                       f"key) to register webhooks, or paste {url} in the Wasender dashboard")
    if rt.http is None:
        raise ApiError(503, "unavailable", "the server is still starting")
    endpoint = f"{config.api_base_url}/api/whatsapp-sessions/{session_id}"
    payload = {"webhook_url": url, "webhook_enabled": True, "webhook_events": list(WEBHOOK_EVENTS)}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        async with rt.http.put(endpoint, json=payload, headers=headers) as resp:
            status, retry_after = resp.status, resp.headers.get("Retry-After")
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("wasender webhook registration for vendor=%s failed: %s", vendor.id, type(exc).__name__)
        raise ApiError(502, "provider_unreachable",
                       f"could not reach Wasender at {config.api_base_url} ({type(exc).__name__})") from None
    data = data if isinstance(data, dict) else {}
    log.info("wasender webhook registration for vendor=%s: Wasender answered %d", vendor.id, status)
    message = _provider_message(data, status)
    if status in (401, 403):
        raise ApiError(502, "provider_refused",
                       f"Wasender refused the access token ({status}: {message}): PALABRE_WASENDER_ACCESS_TOKEN must "
                       "be a personal access token of the account that owns the session")
    if status == 404:
        raise ApiError(502, "provider_error", f"Wasender has no session {session_id} for this access token (404)")
    if status == 429:
        wait = f"; retry after {retry_after} s" if retry_after and retry_after.strip().isdigit() else ""
        raise ApiError(502, "provider_rate_limited", f"Wasender is rate limiting this account (429){wait}")
    if status >= 300 or data.get("success") is False:
        raise ApiError(502, "provider_error", f"Wasender answered {status}: {message}")
    session = data.get("data") if isinstance(data.get("data"), dict) else {}
    theirs = session.get("webhook_secret")
    if not isinstance(theirs, str) or not theirs:
        secret = "not returned"
    elif secure_equal(theirs, config.webhook_secret):
        secret = "matches"
    else:
        secret = "differs"
    events = session.get("webhook_events")
    answer: dict[str, Any] = {
        "vendor": vendor.id,
        "session_id": int(session_id),
        "webhook_url": url,
        "provider_status": status,
        "registered": session.get("webhook_url") == url if "webhook_url" in session else None,
        "webhook_enabled": session.get("webhook_enabled") if isinstance(session.get("webhook_enabled"), bool)
        else None,
        "webhook_events": [str(e) for e in events] if isinstance(events, list) else None,
        "webhook_secret": secret,
        "warning": str(data["warning"])[:300] if data.get("warning") else None,
    }
    if secret == "differs":
        answer["advice"] = ("Wasender sends this session's webhooks with another secret than Palabre expects, so "
                            "they would be refused (401): copy the session's webhook secret from the dashboard and "
                            "import the number again with it (or fix the vendor YAML)")
    return web.json_response(answer)


async def import_numbers(request: web.Request) -> web.Response:
    """A CSV of numbers in the body (text/csv): imported, used at once, and the report returned."""
    rt = admin_runtime(request)
    if request.content_type not in CSV_TYPES:
        raise ApiError(415, "unsupported_media_type", "send the file as text/csv")
    # Read here rather than with the app's body limit: 10 000 rows may exceed it.
    data = await read_body(request, numbers.MAX_BYTES, what="the file")
    try:
        report = await numbers.import_and_apply(rt, data)
    except numbers.CsvInvalid as exc:
        raise ApiError(400, "invalid_csv", str(exc)) from None
    return web.json_response(report.as_json())


async def not_found(request: web.Request) -> web.Response:
    admin_runtime(request)  # unauthenticated callers learn nothing about which admin routes exist
    raise ApiError(404, "not_found", "no such admin route")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/api/admin/vendors/{vendor}/numbers", vendor_numbers),
        web.post("/api/admin/vendors/{vendor}/numbers/webhook", register_webhook),
        web.post("/api/admin/numbers/import", import_numbers),
        web.route("*", "/api/admin/{tail:.*}", not_found),
    ]
