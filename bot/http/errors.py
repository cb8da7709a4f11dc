"""HTTP errors as JSON `{"error": {"code", "message"}}`; no stack trace, secret or address ever leaves the server."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger("palabre.http")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 410: "gone", 413: "body_too_large",
               415: "unsupported_media_type", 503: "unavailable"}


def route_template(request: web.Request) -> str:
    """The route a request matched, as declared (`/webhooks/email/{vendor}/{token}`), never the values in it.

    Paths carry secrets (the e-mail inbound token) and addresses; logs name the route instead.
    """
    info = request.match_info
    resource = info.route.resource if info is not None and info.route is not None else None
    return resource.canonical if resource is not None else "(no route)"


def frames(exc: BaseException) -> str:
    """Where an exception happened (files, lines, code), without its message, which may quote the request."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return error_response(413, "body_too_large", "the request body is too large")
        return error_response(exc.status, _HTTP_CODES.get(exc.status, "error"), exc.reason)
    except Exception as exc:
        # The traceback names our code, not the request's content; the message of the exception may
        # quote the body (a phone number, an address), so only its type is logged.
        log.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method, route_template(request),
                  frames(exc))
        return error_response(500, "internal", "something went wrong on our side; it has been logged")
