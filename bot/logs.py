"""Process logging: one line per record at PALABRE_LOG_LEVEL, chatty libraries at INFO, no raw request bytes."""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

# redis-py at DEBUG prints every pub/sub message verbatim (its hiredis parser, on the "push_response"
# logger), and inbox updates name conversations, whose ids hold buyers' numbers: these never go below
# INFO, whatever level Palabre itself logs at.
QUIET = ("redis", "push_response")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str | int) -> None:
    logging.basicConfig(format=FORMAT)
    logging.getLogger().setLevel(level)  # also when a handler was already installed (basicConfig skips then)
    quiet_libraries(level)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequests) for f in server.filters):
        server.addFilter(MalformedRequests())


class MalformedRequests(logging.Filter):
    """A request aiohttp's HTTP parser refuses (a bad header byte, a bad Content-Length) is answered 400 by aiohttp,
    which logs it at ERROR with a traceback quoting the raw header line: a token or a buyer's number in it would
    reach the logs, and any client could fill them. Logged instead as one WARNING line without the bytes."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and (exc.code or 400) < 500:
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "malformed HTTP request from %s refused with %s (%s)"
            record.args = (remote, exc.code or 400, type(exc).__name__)
            record.exc_info = record.exc_text = None
            record.levelno = min(record.levelno, logging.WARNING)
            record.levelname = logging.getLevelName(record.levelno)
        return True


def quiet_libraries(level: str | int) -> None:
    """Hold QUIET's loggers (and any of their children already made) at INFO or above."""
    floor = max(logging.INFO, logging.getLevelName(level) if isinstance(level, str) else level)
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in QUIET]
    for name in {*QUIET, *names}:
        logging.getLogger(name).setLevel(floor)
