"""Process logging: one line per record at PALABRE_LOG_LEVEL; chatty libraries kept at INFO or above."""

from __future__ import annotations

import logging

# redis-py at DEBUG prints every pub/sub message verbatim (its hiredis parser, on the "push_response"
# logger), and inbox updates name conversations, whose ids hold buyers' numbers: these never go below
# INFO, whatever level Palabre itself logs at.
QUIET = ("redis", "push_response")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str | int) -> None:
    logging.basicConfig(format=FORMAT)
    logging.getLogger().setLevel(level)  # also when a handler was already installed (basicConfig skips then)
    quiet_libraries(level)


def quiet_libraries(level: str | int) -> None:
    """Hold QUIET's loggers (and any of their children already made) at INFO or above."""
    floor = max(logging.INFO, logging.getLevelName(level) if isinstance(level, str) else level)
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in QUIET]
    for name in {*QUIET, *names}:
        logging.getLogger(name).setLevel(floor)
