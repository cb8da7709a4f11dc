"""Delivery state every process must agree on: the Meta → Wasender circuit breaker and the 24-hour-window memory.

One process on its own keeps them in memory (`LocalDeliveryState`). Processes coordinated through Redis
keep them there (`SharedDeliveryState`), so one process seeing Meta down sends every process to the
fallback, and a window Meta declared closed is known to the process that sends the next reply.
"""

from __future__ import annotations

import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Protocol

from bot.delivery.policy import WHATSAPP_WINDOW, BreakerSettings, CircuitBreaker, Verdict
from storage.coordination import Coordinator, InProcessCoordinator

log = logging.getLogger("palabre.delivery")

__all__ = ["Breaker", "DeliveryState", "LocalDeliveryState", "SharedDeliveryState", "delivery_state"]

# Conversations Meta refused as outside the window although our record said inside (CHANNELS.md §2.3
# "known issue"); in memory, bounded, oldest forgotten first.
CLOSED_WINDOWS_MAX = 10_000
# An open circuit nobody probes again (no more sends) is forgotten after this long: closed, the next
# failures open it again.
OPEN_TTL = 24 * 3600.0
CLOSED = "closed"


class Breaker(Protocol):
    """Health of one provider for one vendor; `allow` says where the next send goes."""

    async def allow(self) -> Verdict: ...

    async def record(self, *, healthy: bool, probe: bool) -> None: ...

    async def abandon_probe(self) -> None: ...


class DeliveryState(ABC):
    """The breakers and the closed-window memory of one deployment."""

    @abstractmethod
    def breaker(self, vendor_id: str, provider: str, settings: BreakerSettings) -> Breaker:
        """The breaker to route one send of `provider` for `vendor_id` by, then to tell its outcome."""

    @abstractmethod
    async def window_refused(self, conversation_id: str, last_inbound: float | None) -> bool:
        """Whether Meta refused a free-form reply in this conversation since its last inbound message."""

    @abstractmethod
    async def close_window(self, conversation_id: str, last_inbound: float | None) -> None:
        """Remember that Meta says the window is closed until the buyer writes again (131047)."""


class _LocalBreaker:
    __slots__ = ("breaker",)

    def __init__(self, breaker: CircuitBreaker) -> None:
        self.breaker = breaker

    async def allow(self) -> Verdict:
        return self.breaker.allow()

    async def record(self, *, healthy: bool, probe: bool) -> None:
        self.breaker.record(healthy=healthy, probe=probe)

    async def abandon_probe(self) -> None:
        self.breaker.abandon_probe()


class LocalDeliveryState(DeliveryState):
    """In this process's memory: right for one process, which sees every send."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._breakers: dict[tuple[str, str], _LocalBreaker] = {}
        self._closed_windows: dict[str, float | None] = {}

    def breaker(self, vendor_id: str, provider: str, settings: BreakerSettings) -> Breaker:
        key = (vendor_id, provider)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = _LocalBreaker(
                CircuitBreaker(f"vendor={vendor_id} provider={provider}", settings, self.clock))
        return breaker

    async def window_refused(self, conversation_id: str, last_inbound: float | None) -> bool:
        return conversation_id in self._closed_windows and self._closed_windows[conversation_id] == last_inbound

    async def close_window(self, conversation_id: str, last_inbound: float | None) -> None:
        self._closed_windows.pop(conversation_id, None)
        self._closed_windows[conversation_id] = last_inbound
        if len(self._closed_windows) > CLOSED_WINDOWS_MAX:
            del self._closed_windows[next(iter(self._closed_windows))]


class _BreakerKey:
    """What the processes share about one breaker is in the coordinator; this process's count of
    consecutive failures is here."""

    __slots__ = ("clock", "coordinator", "failures", "key", "name", "probe_after", "threshold")

    def __init__(self, coordinator: Coordinator, vendor_id: str, provider: str, settings: BreakerSettings,
                 clock: Callable[[], float]) -> None:
        self.coordinator = coordinator
        self.key = f"breaker:{vendor_id}:{provider}"
        self.name = f"vendor={vendor_id} provider={provider}"
        self.threshold = settings.failures
        self.probe_after = settings.probe_after
        self.clock = clock
        self.failures = 0


class _SharedBreaker:
    """One send's view of a breaker whose state lives in the coordinator: `closed`, or
    `<opened_at>/<generation>` while open.

    Consecutive failures are counted by each process; the first process to reach the threshold opens the
    circuit for all. Once `probe_after` has passed, one send cluster-wide is let through as the probe
    (a SET NX mark per opening); a probe that never reached Meta bumps the generation, which frees the
    mark for the next send.
    """

    __slots__ = ("shared", "state")

    def __init__(self, shared: _BreakerKey) -> None:
        self.shared = shared
        self.state = CLOSED

    async def allow(self) -> Verdict:
        shared = self.shared
        self.state = state = await shared.coordinator.cache_get(shared.key) or CLOSED
        if state == CLOSED:
            return "primary"
        if shared.clock() - _opened_at(state) < shared.probe_after:
            return "fallback"
        if await shared.coordinator.seen(f"{shared.key}:probe:{state}", ttl=shared.probe_after):
            return "fallback"  # another send (here or in another process) is the probe
        log.warning("%s: circuit half-open, probing with one message", shared.name)
        return "probe"

    async def record(self, *, healthy: bool, probe: bool) -> None:
        shared = self.shared
        if healthy:
            shared.failures = 0
            if probe:
                await shared.coordinator.cache_set(shared.key, CLOSED, ttl=OPEN_TTL)
                log.warning("%s: healthy again, circuit closed for every process", shared.name)
            return
        if probe:
            await self._open("the probe failed")
        elif self.state == CLOSED:
            shared.failures += 1
            if shared.failures >= shared.threshold:
                await self._open(f"{shared.failures} consecutive failures")

    async def abandon_probe(self) -> None:
        if self.state != CLOSED:
            opened_at, _, generation = self.state.partition("/")
            generation = str(int(generation) + 1) if generation.isdigit() else "1"
            await self.shared.coordinator.cache_set(self.shared.key, f"{opened_at}/{generation}", ttl=OPEN_TTL)

    async def _open(self, why: str) -> None:
        shared = self.shared
        shared.failures = 0
        await shared.coordinator.cache_set(shared.key, f"{shared.clock()!r}/0", ttl=OPEN_TTL)
        log.warning("%s: circuit open (%s) for every process, using the fallback for %.0f s", shared.name, why,
                    shared.probe_after)


def _opened_at(state: str) -> float:
    try:
        return float(state.partition("/")[0])
    except ValueError:
        return 0.0  # unreadable: treat as long open, so the next send probes


class SharedDeliveryState(DeliveryState):
    """In the coordinator (Redis): every process sees a breaker opened or a window closed by another.

    Costs one Redis read per send to Meta for a vendor with a fallback, and one per free-form WhatsApp
    reply through Meta; nothing for other providers. Writes happen only when something goes wrong: a
    circuit opened or closed again, a window found closed.
    """

    def __init__(self, coordinator: Coordinator, clock: Callable[[], float]) -> None:
        self.coordinator = coordinator
        self.clock = clock
        self._breakers: dict[tuple[str, str], _BreakerKey] = {}

    def breaker(self, vendor_id: str, provider: str, settings: BreakerSettings) -> Breaker:
        key = (vendor_id, provider)
        shared = self._breakers.get(key)
        if shared is None:
            shared = self._breakers[key] = _BreakerKey(self.coordinator, vendor_id, provider, settings, self.clock)
        return _SharedBreaker(shared)  # one per send: it remembers the state this send was routed by

    async def window_refused(self, conversation_id: str, last_inbound: float | None) -> bool:
        return await self.coordinator.cache_get(_key("window", conversation_id)) == repr(last_inbound)

    async def close_window(self, conversation_id: str, last_inbound: float | None) -> None:
        # Past 24 h after the last inbound message the clock alone says the window is closed.
        await self.coordinator.cache_set(_key("window", conversation_id), repr(last_inbound), ttl=WHATSAPP_WINDOW)


def _key(kind: str, conversation_id: str) -> str:
    # Hashed: conversation ids hold buyers' numbers, which have no business in Redis keys.
    return f"{kind}:" + hashlib.blake2b(conversation_id.encode(), digest_size=12).hexdigest()


def delivery_state(coordinator: Coordinator, clock: Callable[[], float]) -> DeliveryState:
    """In memory for a process on its own, shared through the coordinator when processes share one."""
    if isinstance(coordinator, InProcessCoordinator):
        return LocalDeliveryState(clock)
    return SharedDeliveryState(coordinator, clock)
