"""The HTTP edge shared by every route: reading requests safely, authenticating them, answering errors."""

from bot.http.auth import bearer_token, require_bearer, secure_equal
from bot.http.errors import ApiError, error_response, frames, json_errors, route_template
from bot.http.reading import (
    BODY_LIMIT,
    MAX_JSON_DEPTH,
    header,
    parse_json,
    read_body,
    read_form,
    read_json,
)

__all__ = [
    "BODY_LIMIT",
    "MAX_JSON_DEPTH",
    "ApiError",
    "bearer_token",
    "error_response",
    "frames",
    "header",
    "json_errors",
    "parse_json",
    "read_body",
    "read_form",
    "read_json",
    "require_bearer",
    "route_template",
    "secure_equal",
]
