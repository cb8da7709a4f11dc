"""Rate limits of the outbox: each reply's token buckets, this process's FIFO queue per bucket, deferrals."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable

from bot.delivery.policy import DeliverySettings, RateLimit
from storage import OutboxEntry
from storage.coordination import Coordinator

# Per-bucket times already promised to deferred entries; past ones are dropped beyond this size.
HORIZONS_MAX = 10_000


class _Gate:
    """This process's queue for one token bucket: only its head asks the coordinator, in FIFO order.

    The head asks for a token for everyone queued at once and leaves the extra ones in `spare` for
    those behind it: one Redis round trip per batch instead of one per send, which under load would
    cap a process at one send per event-loop turn.
    """

    __slots__ = ("lock", "spare", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.spare = 0


class Pacer:
    """Takes tokens from the coordinator's buckets (shared through Redis across processes) for the outbox."""

    def __init__(self, coordinator: Coordinator, clock: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]]) -> None:
        self.coordinator = coordinator
        self.clock = clock
        self.sleep = sleep
        self._gates: dict[str, _Gate] = {}
        self._limits: dict[tuple[str, str], tuple[RateLimit | None, RateLimit | None]] = {}
        self._horizons: dict[str, float] = {}

    def buckets(self, entry: OutboxEntry, provider: str, policy: DeliverySettings) -> list[tuple[str, RateLimit]]:
        """The buckets a send of `entry` through `provider` takes a token from: its recipient's, then the sender's."""
        key = (entry.vendor_id, provider)
        limits = self._limits.get(key)
        if limits is None:
            limits = self._limits[key] = policy.limits_for(provider)
        sending, recipient = limits
        buckets: list[tuple[str, RateLimit]] = []
        if recipient is not None:
            # Hashed: bucket keys live in Redis, and buyers' numbers have no business there.
            who = hashlib.blake2b(entry.recipient.encode(), digest_size=8).hexdigest()
            buckets.append((f"rcpt:{provider}:{entry.vendor_id}:{who}", recipient))
        if sending is not None:
            buckets.append((f"send:{provider}:{entry.vendor_id}", sending))
        return buckets

    def queued(self, bucket: str) -> bool:
        """Whether sends of this process queue for a token of `bucket` (they go before any newcomer)."""
        return bucket in self._gates

    def defer_until(self, bucket: str, limit: RateLimit, wait: float) -> float:
        """When a deferred entry comes back: after its wait, and one token after the previous one deferred
        here on the same bucket, so a backlog returns spread out instead of all at once."""
        now = self.clock()
        at = max(now + wait, self._horizons.get(bucket, 0.0))
        self._horizons[bucket] = at + 1 / limit.per_second
        if len(self._horizons) > HORIZONS_MAX:
            self._horizons = {b: t for b, t in self._horizons.items() if t > now}
        return at

    async def take(self, bucket: str, limit: RateLimit, deadline: float) -> float | None:
        """Take one token, sleeping until `deadline` at most; None once taken, else the seconds to defer."""
        gate = self._gates.get(bucket)
        if gate is None:
            gate = self._gates[bucket] = _Gate()
        if gate.users:
            # Everyone queued ahead needs a token first: estimate the wait before joining the queue.
            expected = gate.users / limit.per_second
            if self.clock() + expected > deadline:
                return expected
        gate.users += 1
        try:
            async with gate.lock:
                if gate.spare:
                    gate.spare -= 1
                    return None
                while True:
                    want = max(1, min(gate.users, limit.burst))
                    wait = await self.coordinator.acquire_tokens(bucket, limit.per_second, limit.burst, want)
                    if wait > 0 and want > 1:
                        want = 1  # not enough for the whole queue: one for the head, as before
                        wait = await self.coordinator.acquire_tokens(bucket, limit.per_second, limit.burst)
                    if wait <= 0:
                        gate.spare = want - 1
                        return None
                    if self.clock() + wait > deadline:
                        return wait
                    await self.sleep(wait)
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[bucket]
