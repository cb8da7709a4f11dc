"""The OpenAPI 3.1 document of the inbox API, served at /api/openapi.json."""

from __future__ import annotations

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


def _operation(summary: str, permission: str, body: dict[str, Any] | None, status: int,
               schema: dict[str, Any], path: str) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": ERROR}}}
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Needs the permission `{permission}`.",
        "responses": {
            str(status): {"description": "OK", "content": {
                "text/event-stream" if path.endswith("/events") else "application/json": {"schema": schema}}},
            "400": {"description": "bad input", **error},
            "401": {"description": "no valid token", **error},
            "403": {"description": "the role lacks the permission", **error},
        },
    }
    params = [name for name in ("id", "canned_id") if f"{{{name}}}" in path]
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
        "info": {"title": "Palabre inbox API", "version": "1",
                 "description": "The handoff inbox for support agents. Tokens come from `palabre users add`."},
        "servers": [{"url": base_url}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }
