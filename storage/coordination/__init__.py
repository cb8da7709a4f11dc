"""Cross-process coordination: per-key locks, de-duplication, token buckets and a small TTL cache.

`Coordinator` (base) is the contract; `InProcessCoordinator` (in_process) serves one process,
`RedisCoordinator` (on_redis) every process sharing one Redis.
"""

from __future__ import annotations

from storage.coordination.base import Coordinator, HeldLock, LockLost, LockTimeout
from storage.coordination.in_process import InProcessCoordinator
from storage.coordination.on_redis import RedisCoordinator

__all__ = [
    "Coordinator",
    "HeldLock",
    "InProcessCoordinator",
    "LockLost",
    "LockTimeout",
    "RedisCoordinator",
    "coordinator_from_url",
]


def coordinator_from_url(url: str | None) -> Coordinator:
    """InProcessCoordinator for None or "", RedisCoordinator for redis://, rediss:// and unix:// URLs."""
    if not url:
        return InProcessCoordinator()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCoordinator(url)
    raise ValueError(f"unsupported coordination URL {url!r}: expected redis://, rediss:// or unix://")
