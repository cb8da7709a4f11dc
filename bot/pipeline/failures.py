"""Which turn failures are transient (retry until they pass) and how long to wait between attempts."""

from __future__ import annotations

import errno
import random
import socket
import sqlite3
from dataclasses import dataclass

import redis.exceptions
from pymongo.errors import ConnectionFailure, PyMongoError, WTimeoutError

from storage.base import ConflictError

# Coordination or storage unreachable, slow or busy for a moment: the same turn will pass later.
# TimeoutError covers asyncio's timeouts and the coordinator's LockTimeout.
TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,  # BusyLoadingError included
    redis.exceptions.TimeoutError,
    ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError, NotPrimaryError
    WTimeoutError,
    TimeoutError,
    ConnectionError,  # refused, reset, aborted, broken pipe
    socket.gaierror,  # a name that did not resolve this time
    ConflictError,  # another writer moved the conversation: reload and run the turn again
)
# Other OSErrors are transient only when they are about the network or a full disk; a missing file or a
# refused permission is a bug or a misconfiguration that no retry fixes.
_TRANSIENT_ERRNOS = frozenset({errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTUNREACH, errno.EHOSTDOWN,
                               errno.ETIMEDOUT, errno.EAGAIN, errno.ENOSPC, errno.ENOBUFS, errno.EIO})
_MONGO_LABELS = ("RetryableWriteError", "TransientTransactionError")
_SQLITE_BUSY = ("locked", "busy")


def is_transient(exc: BaseException) -> bool:
    """True when `exc`, or an exception it was raised from, says a dependency is unavailable for now.

    Anything else (a bug, an event the dialog cannot handle) is permanent: retrying cannot help.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TRANSIENT_TYPES):
            return True
        if isinstance(current, OSError) and current.errno in _TRANSIENT_ERRNOS:
            return True
        if isinstance(current, sqlite3.OperationalError) and any(w in str(current).lower() for w in _SQLITE_BUSY):
            return True
        if isinstance(current, PyMongoError) and any(current.has_error_label(label) for label in _MONGO_LABELS):
            return True
        current = current.__cause__
    return False


@dataclass
class Backoff:
    """Exponential delays with jitter: attempt n waits between half and all of min(cap, first * 2**n).

    The jitter spreads the retries of many conversations that failed together (Redis restarting),
    so they do not all hit the recovering dependency in the same millisecond.
    """

    first: float = 0.2
    cap: float = 5.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap, self.first * 2 ** min(attempt, 32))
        return random.uniform(ceiling / 2, ceiling)
