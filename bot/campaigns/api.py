"""The campaigns API under /api/vendors/{vendor}: contacts, templates, segments, settings, campaigns."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bot.campaigns import contacts, service, templates
from bot.campaigns.audience import count
from bot.campaigns.limits import valid_hours
from bot.campaigns.service import CampaignError, Campaigns
from bot.http import ApiError, bearer_token, read_body, read_json, secure_equal
from bot.inbox.roles import Action
from bot.inbox.users import authenticate
from bot.runtime import RUNTIME
from storage.campaigns import Audience, Campaign, CampaignSettings, Segment

BASE = "/api/vendors/{vendor}"
NAME_MAX = 64


async def _allowed(request: web.Request, action: Action, *, operator_only: bool = False) -> tuple[Campaigns, str]:
    """The service and vendor id, once the caller may act: the admin token, or an inbox user whose role may
    `action` contacts for this vendor (plan quotas and sending rules: the admin token only)."""
    rt = request.app[RUNTIME]
    vendor_id = request.match_info["vendor"]
    token = rt.settings.admin_token
    if not (token and secure_equal(bearer_token(request), token)):
        if operator_only:
            raise ApiError(401, "unauthorized", "send the header Authorization: Bearer <PALABRE_ADMIN_TOKEN>")
        caller = await authenticate(request, rt.inbox.store)
        if not caller.can("contacts", action):
            raise ApiError(403, "forbidden", f"the role {caller.role} may not {action} contacts and campaigns")
        if not caller.sees(vendor_id):
            raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}'")
    if vendor_id not in rt.vendors:
        raise ApiError(404, "unknown_vendor", f"no vendor '{vendor_id[:64]}'")
    return rt.campaigns, vendor_id


async def _object(request: web.Request) -> dict[str, Any]:
    body = await read_json(request) if request.body_exists else {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "the body must be a JSON object")
    return body


def _name(request: web.Request, key: str = "name") -> str:
    value = request.match_info[key]
    if not 1 <= len(value) <= NAME_MAX:
        raise ApiError(400, "invalid_name", f"a name has 1 to {NAME_MAX} characters")
    return value


def _refused(exc: CampaignError) -> ApiError:
    return ApiError(exc.status, exc.code, str(exc))


# contacts
async def import_contacts(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "create")
    data = await read_body(request, contacts.MAX_BYTES, what="the contact file")
    region = request.query.get("default_region") or None
    filename = request.query.get("filename", "")
    if "spreadsheetml" in (request.content_type or ""):
        filename = filename or "contacts.xlsx"
    try:
        report = await contacts.import_contacts(data, vendor_id, svc.store, region=region, filename=filename)
    except contacts.FileInvalid as exc:
        raise ApiError(400, "invalid_file", str(exc)) from None
    except contacts.QuotaExceeded as exc:
        raise ApiError(402, "quota_exceeded", str(exc)) from None
    return web.json_response(report.as_json())


async def export_contacts(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "read")
    text = await contacts.export_csv(svc.store, vendor_id)
    return web.Response(text=text, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{vendor_id}-contacts.csv"'})


# templates
async def list_templates(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "read")
    items = [t.model_dump(mode="json") for t in await svc.store.templates(vendor_id)]
    return web.json_response({"templates": items})


async def put_template(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "update")
    body = {**await _object(request), "name": _name(request)}
    try:
        template = templates.parse_template(vendor_id, body)
    except templates.TemplateInvalid as exc:
        raise ApiError(400, "invalid_template", str(exc)) from None
    await svc.store.save_template(template)
    return web.json_response(template.model_dump(mode="json"))


async def delete_template(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "delete")
    if not await svc.store.delete_template(vendor_id, _name(request)):
        raise ApiError(404, "unknown_template", "no such template")
    return web.json_response({"deleted": True})


# segments
async def list_segments(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "read")
    await svc.flush_activity()  # counts include who wrote a moment ago
    at = request.app[RUNTIME].clock()
    items = [{**s.model_dump(mode="json"), "count": await count(svc.store, vendor_id, s.audience, at)}
             for s in await svc.store.segments(vendor_id)]
    return web.json_response({"segments": items})


async def put_segment(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "update")
    body = await _object(request)
    try:
        audience = Audience.model_validate(body.get("filter", body))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApiError(400, "invalid_segment", f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    segment = Segment(vendor_id=vendor_id, name=_name(request), audience=audience)
    await svc.store.save_segment(segment)
    await svc.flush_activity()
    live = await count(svc.store, vendor_id, audience, request.app[RUNTIME].clock())
    return web.json_response({**segment.model_dump(mode="json"), "count": live})


# settings: sending hours, daily limits, plan quotas
async def get_settings(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "read")
    return web.json_response((await svc.store.get_settings(vendor_id)).model_dump(mode="json"))


async def put_settings(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "update", operator_only=True)
    body = {**await _object(request), "vendor_id": vendor_id}
    try:
        settings = CampaignSettings.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ApiError(400, "invalid_settings", f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    if not valid_hours(settings.hours):
        raise ApiError(400, "invalid_settings", 'hours: two times like ["08:00", "21:00"]')
    await svc.store.save_settings(settings)
    return web.json_response(settings.model_dump(mode="json"))


# campaigns
async def _campaign(svc: Campaigns, vendor_id: str, request: web.Request) -> Campaign:
    campaign = await svc.store.get_campaign(request.match_info["id"][:NAME_MAX])
    if campaign is None or campaign.vendor_id != vendor_id:
        raise ApiError(404, "unknown_campaign", "no such campaign")
    return campaign


async def list_campaigns(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "read")
    return web.json_response({"campaigns": [service.public(c) for c in await svc.store.campaigns(vendor_id)]})


async def create_campaign(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "create")
    body = await _object(request)
    try:
        campaign = await service.create(svc.store, vendor_id, body, request.app[RUNTIME].clock())
        if body.get("start") and campaign.status == "draft":
            campaign = await service.command(svc.store, campaign, "schedule" if campaign.at else "start",
                                             request.app[RUNTIME].clock())
    except CampaignError as exc:
        raise _refused(exc) from None
    return web.json_response(service.public(campaign), status=201)


async def get_campaign(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "read")
    return web.json_response(service.public(await _campaign(svc, vendor_id, request)))


async def campaign_action(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "update")
    action = request.match_info["action"]
    if action not in service.FROM:
        raise ApiError(404, "unknown_action", f"actions: {', '.join(service.FROM)}")
    campaign = await _campaign(svc, vendor_id, request)
    body = await _object(request)
    when = body.get("at")
    if when is not None and (isinstance(when, bool) or not isinstance(when, int | float)):
        raise ApiError(400, "invalid_time", "at is a Unix time in seconds")
    try:
        campaign = await service.command(svc.store, campaign, action, request.app[RUNTIME].clock(), when)
    except CampaignError as exc:
        raise _refused(exc) from None
    return web.json_response(service.public(campaign))


async def campaign_report(request: web.Request) -> web.Response:
    svc, vendor_id = await _allowed(request, "read")
    campaign = await _campaign(svc, vendor_id, request)
    if request.query.get("format") == "csv":
        return web.Response(text=await service.report_csv(svc.store, campaign), content_type="text/csv",
                            charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="campaign-{campaign.id}.csv"'})
    return web.json_response(await service.report(svc.store, campaign))


def routes() -> list[web.RouteDef]:
    return [
        web.post(f"{BASE}/contacts/import", import_contacts),
        web.get(f"{BASE}/contacts/export", export_contacts),
        web.get(f"{BASE}/templates", list_templates),
        web.put(f"{BASE}/templates/{{name}}", put_template),
        web.delete(f"{BASE}/templates/{{name}}", delete_template),
        web.get(f"{BASE}/segments", list_segments),
        web.put(f"{BASE}/segments/{{name}}", put_segment),
        web.get(f"{BASE}/campaign-settings", get_settings),
        web.put(f"{BASE}/campaign-settings", put_settings),
        web.get(f"{BASE}/campaigns", list_campaigns),
        web.post(f"{BASE}/campaigns", create_campaign),
        web.get(f"{BASE}/campaigns/{{id}}", get_campaign),
        web.get(f"{BASE}/campaigns/{{id}}/report", campaign_report),
        web.post(f"{BASE}/campaigns/{{id}}/{{action}}", campaign_action),
    ]
