"""The OpenAPI 3.1 document of every /api/ route (inbox, dashboard, lives, catalogue, campaigns, admin),
served at /api/openapi.json."""

from __future__ import annotations

import re
from typing import Any

CONV = "/api/inbox/conversations/{id}"
CANNED_ITEM = "/api/inbox/canned/{canned_id}"


def _obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, **({"required": required} if required else {})}


STR = {"type": "string"}
NUM = {"type": "number"}
STR_OR_NULL = {"type": ["string", "null"]}
ERROR = _obj(["error"], error=_obj(["code", "message"], code=STR, message=STR))
CONTACT = _obj(name=STR_OR_NULL, address={**STR, "description": "masked unless the role may read contacts"})
LAST = _obj(text=STR_OR_NULL, direction={"enum": ["in", "out", "agent"]}, at=NUM)
SUMMARY = _obj(
    ["id", "vendor", "channel", "contact", "status", "assignee", "waiting_since", "last_message"],
    id={**STR, "description": "URL-encode it in paths"}, vendor=STR, channel=STR, contact=CONTACT,
    status={"enum": ["open", "assigned", "snoozed", "resolved"]}, assignee=STR_OR_NULL,
    waiting_since={"type": ["number", "null"], "description": "since when the buyer waits for an answer"},
    last_message={"oneOf": [LAST, {"type": "null"}]}, labels={"type": "array", "items": STR}, reason=STR,
    category=STR_OR_NULL, opened_at=NUM,
)
MESSAGE = _obj(id=STR, author={"enum": ["buyer", "bot", "agent"]}, text=STR_OR_NULL, at=NUM, status=STR,
               agent=STR, buttons={"type": "array", "items": _obj(id=STR, title=STR)})
NOTE = _obj(id=STR, author=STR, text=STR, created_at=NUM)
CANNED = _obj(id=STR, vendor=STR_OR_NULL, shortcut=STR, text=STR, updated_at=NUM)
DETAIL = {"allOf": [SUMMARY, _obj(
    messages={"type": "array", "items": MESSAGE}, notes={"type": "array", "items": NOTE},
    orders={"type": "array", "items": _obj(id=STR, product_name=STR, quantity={"type": "integer"},
                                           total={"type": "integer"}, status=STR, receipt=STR_OR_NULL)},
    in_handoff={"type": "boolean"}, first_response_seconds={"type": ["number", "null"]},
    resolution_seconds={"type": ["number", "null"]}, csat=_obj(pending={"type": "boolean"},
                                                               score={"type": ["integer", "null"]}),
)]}

# (method, path, summary, permission, request body schema, success status, response schema)
OPERATIONS: list[tuple[str, str, str, str, dict[str, Any] | None, int, dict[str, Any]]] = [
    ("get", "/api/inbox/me", "Who the token belongs to and what the role may do", "any", None, 200,
     _obj(name=STR, role=STR, permissions={"type": "object"})),
    ("get", "/api/inbox/conversations", "Handed-over conversations, the longest waiting first",
     "conversations:read", None, 200, _obj(["conversations"], conversations={"type": "array", "items": SUMMARY})),
    ("get", CONV, "A conversation with its messages, private notes and order context", "conversations:read", None,
     200, DETAIL),
    ("post", f"{CONV}/claim", "Take the conversation", "conversations:update", None, 200, SUMMARY),
    ("post", f"{CONV}/assign", "Give the conversation to an agent (null: unassign)", "assignments:update",
     _obj(["user"], user=STR_OR_NULL), 200, SUMMARY),
    ("post", f"{CONV}/messages", "Reply to the buyer on their own channel (a lone /shortcut is expanded)",
     "messages:create", _obj(["text"], text=STR, buttons={"type": "array", "maxItems": 3,
                                                          "items": _obj(["title"], id=STR, title=STR)}), 201, MESSAGE),
    ("post", f"{CONV}/notes", "Add a private note (never sent to the buyer)", "notes:create", _obj(["text"], text=STR),
     201, NOTE),
    ("post", f"{CONV}/release", "Hand back to the bot; its dialog restarts at its initial state",
     "conversations:update", None, 200, SUMMARY),
    ("post", f"{CONV}/resolve", "Resolve and ask the buyer for a 1-5 satisfaction score", "conversations:update",
     None, 200, SUMMARY),
    ("post", f"{CONV}/snooze", "Snooze until a time (null: until the buyer writes)", "conversations:update",
     _obj(until={"type": ["number", "string", "null"]}), 200, SUMMARY),
    ("put", f"{CONV}/labels", "Replace the conversation's labels", "conversations:update",
     _obj(["labels"], labels={"type": "array", "items": STR}), 200, SUMMARY),
    ("get", "/api/inbox/canned", "Canned replies", "canned:read", None, 200,
     _obj(canned={"type": "array", "items": CANNED})),
    ("post", "/api/inbox/canned", "Save a canned reply", "canned:create",
     _obj(["shortcut", "text"], shortcut=STR, text=STR, vendor=STR_OR_NULL), 201, CANNED),
    ("put", CANNED_ITEM, "Change a canned reply", "canned:update", _obj(shortcut=STR, text=STR), 200, CANNED),
    ("delete", CANNED_ITEM, "Delete a canned reply", "canned:delete", None, 200, _obj(deleted=STR)),
    ("get", "/api/inbox/events", "Live updates (text/event-stream): handoff, message, assignment, status, note, labels",
     "conversations:read", None, 200, STR),
    ("get", "/api/inbox/audit", "The audit log of agents' actions, newest first", "audit:read", None, 200,
     _obj(entries={"type": "array", "items": {"type": "object"}})),
]


INT = {"type": "integer"}
BOOL = {"type": "boolean"}
ANY_OBJ = {"type": "object"}
NUM_OR_NULL = {"type": ["number", "null"]}
ADMIN = "admin token"  # PALABRE_ADMIN_TOKEN, the operator's; no inbox user has it
VENDOR_API = "/api/vendors/{vendor}"
ADMIN_VENDOR = "/api/admin/vendors/{vendor}"
DASH = "/api/dashboard/{vendor}"
LIVE_TOTALS = _obj(["on"], on=BOOL, id=STR, started_at=NUM, orders=INT, paid=INT, in_progress=INT, revenue=INT,
                   revenue_text=STR)
DASHBOARD = _obj(
    ["vendor", "period", "totals", "stock", "alerts", "live"],
    vendor=ANY_OBJ, period=_obj(since=NUM, at=NUM),
    totals=_obj(orders=INT, paid=INT, in_progress=INT, expired=INT, cancelled=INT, refund_due=INT, refunded=INT,
                revenue=INT, revenue_text=STR, conversion=NUM_OR_NULL),
    stock={"type": "array", "items": _obj(code=STR, name=STR, stock=INT, held=INT, sold=INT, low=BOOL,
                                          sold_out=BOOL)},
    low_stock_units={**INT, "description": "the vendor's alert level: adaptive.low_stock_threshold + 1"},
    alerts={"type": "array", "items": _obj(code=STR, name=STR, stock=INT, kind={"enum": ["low", "sold_out"]})},
    live={**LIVE_TOTALS, "description": "the vendor's open live and the totals of the orders made since it began"},
    chart=ANY_OBJ, payments={"type": "array", "items": ANY_OBJ}, orders={"type": "array", "items": ANY_OBJ},
    velocity={"type": ["object", "null"]},
)
SESSION = _obj(id=STR, vendor_id=STR, started_at=NUM, ended_at=NUM_OR_NULL, started_by=STR,
               ended_by=STR_OR_NULL, summary={"type": ["object", "null"]})
PRODUCT = _obj(["code", "name", "price", "stock"], code=STR, name=STR, price=INT, stock=INT)
REFUND = _obj(payment_id=STR, order_id=STR, psp=STR, status={"enum": ["due", "manual"]}, amount=INT, buyer=STR)
LIST = {"type": "array", "items": ANY_OBJ}

# The commerce, campaign and operator routes: (method, path, summary, permission, body, status, response)
OPERATIONS += [
    ("get", DASH, "The vendor's dashboard: figures since `since` (default midnight), stock, live, velocity",
     "analytics:read", None, 200, DASHBOARD),
    ("get", f"{DASH}/events", "Live updates (text/event-stream): `snapshot`, the dashboard JSON, after each change",
     "analytics:read", None, 200, STR),
    ("get", f"{DASH}/buyer", "A buyer card from ?order= or ?conversation=: history, score and its factors",
     "orders:read", None, 200, ANY_OBJ),
    ("get", f"{VENDOR_API}/live", "The open live and the last lives with their summaries", "analytics:read", None,
     200, _obj(current={"oneOf": [SESSION, {"type": "null"}]}, sessions={"type": "array", "items": SESSION})),
    ("post", f"{VENDOR_API}/live/start", "Start a live (LIVE ON); an Idempotency-Key makes a retry the same",
     "products:update", None, 201, _obj(started=BOOL, session=SESSION)),
    ("post", f"{VENDOR_API}/live/stop", "Stop the live (LIVE OFF) and get its summary; 409 when none is on",
     "products:update", None, 200, _obj(session=SESSION, summary=ANY_OBJ)),
    ("get", f"{VENDOR_API}/products", "The catalogue with stock and the vendor's changes", "products:read", None,
     200, _obj(products={"type": "array", "items": PRODUCT})),
    ("post", f"{VENDOR_API}/products", "Add a product (AJOUT)", "products:create", PRODUCT, 201, PRODUCT),
    ("patch", f"{VENDOR_API}/products/{{code}}", "Change a product's name, price or stock", "products:update",
     _obj(name=STR, price=INT, stock=INT), 200, PRODUCT),
    ("delete", f"{VENDOR_API}/products/{{code}}", "Withdraw a product from sale (RETIRER)", "products:delete", None,
     200, _obj(code=STR, removed=BOOL)),
    ("post", f"{VENDOR_API}/contacts/import", "Import contacts (CSV) with their consent", "contacts:create", None,
     200, ANY_OBJ),
    ("get", f"{VENDOR_API}/contacts/export", "Export contacts (CSV)", "contacts:read", None, 200, STR),
    ("get", f"{VENDOR_API}/templates", "Campaign message templates", "contacts:read", None, 200, ANY_OBJ),
    ("put", f"{VENDOR_API}/templates/{{name}}", "Create or replace a campaign template", "contacts:update",
     ANY_OBJ, 200, ANY_OBJ),
    ("delete", f"{VENDOR_API}/templates/{{name}}", "Delete a campaign template", "contacts:delete", None, 200,
     ANY_OBJ),
    ("get", f"{VENDOR_API}/segments", "Contact segments", "contacts:read", None, 200, ANY_OBJ),
    ("put", f"{VENDOR_API}/segments/{{name}}", "Create or replace a segment", "contacts:update", ANY_OBJ, 200,
     ANY_OBJ),
    ("get", f"{VENDOR_API}/campaign-settings", "Plan quotas and sending rules", "contacts:read", None, 200, ANY_OBJ),
    ("put", f"{VENDOR_API}/campaign-settings", "Change plan quotas and sending rules", ADMIN, ANY_OBJ, 200,
     ANY_OBJ),
    ("get", f"{VENDOR_API}/campaigns", "Campaigns, newest first", "contacts:read", None, 200,
     _obj(campaigns=LIST)),
    ("post", f"{VENDOR_API}/campaigns", "Create a campaign (`start`: schedule or start it now)", "contacts:create",
     ANY_OBJ, 201, ANY_OBJ),
    ("get", f"{VENDOR_API}/campaigns/{{id}}", "A campaign", "contacts:read", None, 200, ANY_OBJ),
    ("get", f"{VENDOR_API}/campaigns/{{id}}/report", "A campaign's delivery report", "contacts:read", None, 200,
     ANY_OBJ),
    ("post", f"{VENDOR_API}/campaigns/{{id}}/{{action}}", "schedule, start, pause, resume or cancel a campaign",
     "contacts:update", _obj(at=NUM), 200, ANY_OBJ),
    ("get", "/api/admin/dead-letters", "Dead letters (?vendor=), oldest first", ADMIN, None, 200,
     _obj(dead_letters=LIST)),
    ("post", "/api/admin/dead-letters/replay", 'Queue dead letters again: {"event_id"} or {"all": true, "vendor"}',
     ADMIN, _obj(event_id=STR, all=BOOL, vendor=STR), 200, _obj(replayed=LIST, failed=LIST)),
    ("get", f"{ADMIN_VENDOR}/refunds", "Refunds owed: due (automatic, in progress) and manual (by hand)", ADMIN,
     None, 200, _obj(refunds={"type": "array", "items": REFUND})),
    ("post", f"{ADMIN_VENDOR}/refunds/{{payment_id}}/done", "The vendor refunded by hand: the buyer is told",
     ADMIN, None, 200, ANY_OBJ),
    ("get", f"{ADMIN_VENDOR}/buyers/{{address}}", "A buyer's record and trust score", ADMIN, None, 200, ANY_OBJ),
    ("put", f"{ADMIN_VENDOR}/products/{{code}}/stock", "Set a product's stock", ADMIN, _obj(["stock"], stock=INT),
     200, _obj(vendor=STR, code=STR, stock=INT)),
    ("post", "/api/admin/vendors/reload", "Reload the vendor files (422 with every problem: nothing changed)",
     ADMIN, None, 200, ANY_OBJ),
    ("get", f"{ADMIN_VENDOR}/numbers", "The vendor's WhatsApp numbers and their webhook state", ADMIN, None, 200,
     ANY_OBJ),
    ("post", f"{ADMIN_VENDOR}/numbers/webhook", "Register the webhook of the vendor's number", ADMIN, None, 200,
     ANY_OBJ),
    ("post", "/api/admin/numbers/import", "Import vendor numbers", ADMIN, ANY_OBJ, 200, ANY_OBJ),
    ("get", "/api/openapi.json", "This document", "any", None, 200, ANY_OBJ),
]
PATH_PARAM = re.compile(r"\{(\w+)\}")


def _operation(summary: str, permission: str, body: dict[str, Any] | None, status: int,
               schema: dict[str, Any], path: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": ERROR}}}
    op: dict[str, Any] = {
        "summary": summary,
        "description": "Needs PALABRE_ADMIN_TOKEN." if permission == ADMIN else
                       f"Needs the permission `{permission}`.",
        "responses": {
            str(status): {"description": "OK", "content": {
                "text/event-stream" if path.endswith("/events") else "application/json": {"schema": schema}}},
            "400": {"description": "bad input", **error},
            "401": {"description": "no valid token", **error},
            "403": {"description": "the role lacks the permission", **error},
        },
    }
    params = PATH_PARAM.findall(path)
    if params:
        op["parameters"] = [{"name": n, "in": "path", "required": True, "schema": STR} for n in params]
        op["responses"]["404"] = {"description": "unknown, or of a vendor the caller does not work for", **error}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def document(base_url: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, permission, body, status, schema in OPERATIONS:
        paths.setdefault(path, {})[method] = _operation(summary, permission, body, status, schema, path)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Palabre API", "version": "1",
                 "description": "The handoff inbox, the vendor dashboard, lives and catalogue, campaigns, and the "
                                "operator's admin routes. Inbox tokens come from `palabre users add`; admin routes "
                                "take PALABRE_ADMIN_TOKEN."},
        "servers": [{"url": base_url}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
