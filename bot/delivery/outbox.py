"""The outbox worker: sends replies under the delivery policy (rate limits, retries, fallback, 24 h window)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from bot.delivery.elsewhere import send_elsewhere
from bot.delivery.pacing import Pacer
from bot.delivery.policy import (
    NO_TEMPLATE_TEXT,
    NOT_SENDABLE,
    DeliverySettings,
    backoff,
    can_fall_back,
    counts_as_outage,
    outside_window,
    template_reply,
    window_closed,
)
from bot.delivery.shared import Breaker, delivery_state
from bot.metrics import Metrics
from channels.base import Sender, SendError, mask_address
from channels.replies import Reply
from storage import OutboxEntry, Store
from storage.coordination import Coordinator, InProcessCoordinator

log = logging.getLogger("palabre.delivery")

__all__ = ["Delivery", "backoff"]

# A claim outlives the longest handling of one entry (max_wait ≤ 120 s plus the sender's timeouts).
# If a process dies holding one, another process retries that entry once the claim expires.
CLAIM_TTL = 300.0
# The simulator "sends" into the transcript: sending twice is harmless, so it skips the claim.
UNCLAIMED_PROVIDERS = frozenset({"simulator"})
MULTI_CHANNEL_PROVIDERS = frozenset({"twilio"})
# Replies held behind an earlier one come back this long after it, all at the same time: the store then
# hands them out in the order they were written, which one conversation's replies keep, however often
# and by whichever process they were held.
HOLD_STEP = 0.001
# How long past its retry time an earlier reply may still hold the later ones back.
BLOCK_GRACE = 30.0


def _claim_key(entry: OutboxEntry) -> str:
    """The claim of one version of an entry: every write that leaves it pending must make a new version."""
    return f"outbox:{entry.id}:{entry.attempts}:{entry.next_attempt_at!r}"


@dataclass
class _Route:
    """Where one attempt goes: the provider, its sender, and the breaker to tell about the outcome."""

    provider: str
    sender: Sender
    breaker: Breaker | None = None
    probe: bool = False
    reported: bool = False
    note: str | None = None

    async def report(self, *, healthy: bool) -> None:
        if self.breaker is not None:
            await self.breaker.record(healthy=healthy, probe=self.probe)
        self.reported = True


class Delivery:
    """Sends outbox entries under each vendor's `DeliverySettings`.

    Each version of an entry (its attempts and next_attempt_at) is claimed through the coordinator
    before it is handled, so neither a sweep racing a submit nor two processes sharing a store send
    it twice. A failed send is rescheduled in the store, so retries survive a restart. Delivery is
    at-least-once: a crash between a send and its record sends again (same idempotency key, the id).
    """

    def __init__(
        self,
        store: Store,
        senders: dict[str, Sender],  # by "provider:vendor", or by provider for every vendor
        metrics: Metrics,
        *,
        coordinator: Coordinator | None = None,
        settings: Mapping[str, DeliverySettings] | None = None,  # by vendor id
        max_attempts: int = 8,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.senders = senders
        self.metrics = metrics
        self.coordinator = coordinator or InProcessCoordinator()
        self.settings = dict(settings or {})
        self.max_attempts = max_attempts
        self.clock = clock
        self.sleep = sleep
        self.rng = rng
        self._default = DeliverySettings()
        self._inflight: set[str] = set()
        self._lanes: dict[str, deque[OutboxEntry]] = {}
        # conversation -> (the entry waiting for a retry, until when): later replies queue behind it
        self._blocked: dict[str, tuple[str, float]] = {}
        self._held: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.pacer = Pacer(self.coordinator, clock, sleep)
        # The breakers and the closed-window memory: shared through Redis when processes share a coordinator.
        self.shared = delivery_state(self.coordinator, clock)

    def submit(self, entries: Iterable[OutboxEntry]) -> None:
        """Queue entries for sending. Entries of one conversation go out one at a time, in the order
        submitted: a reply is sent only once the provider accepted the previous one (or it failed for
        good); other conversations stay parallel."""
        for entry in entries:
            if entry.id in self._inflight:
                continue
            self._inflight.add(entry.id)
            key = entry.conversation_id
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = deque()
                task = asyncio.create_task(self._run_lane(key, lane))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            lane.append(entry)

    async def sweep(self, mine: Callable[[OutboxEntry], bool] | None = None) -> int:
        """Submit every pending entry that is due (retries, deferred sends, and entries left by a crash);
        with `mine`, only the entries it accepts."""
        due = [e for e in await self.store.pending_outbox(self.clock(), limit=500)
               if e.id not in self._inflight and (mine is None or mine(e))]
        self.submit(due)
        return len(due)

    def policy(self, vendor_id: str) -> DeliverySettings:
        """The vendor's delivery settings (the defaults for a vendor without any)."""
        return self.settings.get(vendor_id, self._default)

    def can_send(self, provider: str, vendor_id: str) -> bool:
        """Whether this process holds a sender for `provider` on behalf of `vendor_id`."""
        return self._sender(provider, vendor_id) is not None

    @property
    def in_flight(self) -> int:
        """Sends under way in this process (waiting for tokens, or at the provider)."""
        return len(self._tasks)

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no send is in flight, including the ones started meanwhile (for shutdown and tests)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - time.monotonic()))

    # one conversation's lane
    async def _run_lane(self, key: str, lane: deque[OutboxEntry]) -> None:
        try:
            while lane:
                head = lane[0]
                blocked = self._blocked.get(key)
                if blocked is not None and self.clock() > blocked[1] + BLOCK_GRACE:
                    # The reply it waited for was handled elsewhere (another process, or lost): stop waiting.
                    del self._blocked[key]
                    blocked = None
                if blocked is not None and blocked[0] != head.id:
                    # An earlier reply waits for a retry: this one goes out after it, never before.
                    held_until: float | None = blocked[1]
                else:
                    held_until = await self._send(head)
                    if held_until is None:
                        self._blocked.pop(key, None)
                    else:
                        self._blocked[key] = (head.id, held_until)
                    lane.popleft()
                if held_until is not None and lane:
                    # Taken off the lane before awaiting: a reply submitted meanwhile joins the lane and is
                    # held in its turn, instead of being cleared away unsent (and left in flight for good).
                    held = list(lane)
                    lane.clear()
                    await self._hold(held, held_until)
        finally:
            self._lanes.pop(key, None)

    async def _hold(self, entries: list[OutboxEntry], after: float) -> None:
        """Leave entries pending until just after `after`, in their order, for a later sweep."""
        until = after + HOLD_STEP
        for entry in entries:
            try:
                if entry.next_attempt_at >= until:
                    # Not due before then anyway: nothing to move. Claiming it would spend the claim of the very
                    # version left in the store, and no process could send it before the claim expired.
                    continue
                # Holding is handling: only the claimant of this version may move it. Another process may be
                # sending it, and marking it pending after that send would send it a second time.
                if await self.coordinator.seen(_claim_key(entry), ttl=CLAIM_TTL):
                    continue
                await self.store.mark_outbox(entry.id, "pending", attempts=entry.attempts, next_attempt_at=until,
                                             error=entry.error)
            except Exception:
                log.exception("could not hold entry=%s behind an earlier reply", entry.id)
            finally:
                self._inflight.discard(entry.id)

    # one entry
    async def _send(self, entry: OutboxEntry) -> float | None:
        """Handle an entry until it is sent, failed for good, or left pending; then the time it waits for."""
        current: OutboxEntry | None = entry
        try:
            while current is not None:
                entry, current = current, await self._deliver(current)
            return self._held.pop(entry.id, None)
        except Exception:
            # Typically the store: the entry stays pending and a later sweep tries it again.
            log.exception("delivery of entry=%s failed", entry.id)
            self._held.pop(entry.id, None)
            return entry.next_attempt_at
        finally:
            self._inflight.discard(entry.id)

    async def _leave_pending(self, entry: OutboxEntry, attempts: int, next_attempt_at: float,
                             error: str | None) -> None:
        """Keep an entry in the outbox for a later try; the replies after it in its conversation wait."""
        if attempts == entry.attempts and next_attempt_at == entry.next_attempt_at:
            # Written back unchanged (a "retry after 0" on a clock that has not moved), the version would keep
            # the claim just spent on it: a moment later makes it a new version that a sweep can claim.
            next_attempt_at += HOLD_STEP
        await self.store.mark_outbox(entry.id, "pending", attempts=attempts, next_attempt_at=next_attempt_at,
                                     error=error)
        self._held[entry.id] = next_attempt_at

    async def _deliver(self, entry: OutboxEntry) -> OutboxEntry | None:
        """Handle one version of an entry; returns the next version when it should be retried at once."""
        policy = self.policy(entry.vendor_id)
        prepaid = False
        if entry.provider not in UNCLAIMED_PROVIDERS:
            claimed = await self._claim(entry, policy)
            if claimed is None:
                blocked = self._blocked.get(entry.conversation_id)
                if blocked is not None and blocked[0] == entry.id:
                    # A version already handled (a sweep read the store before its retry was written): the reply
                    # still waits for that retry, and so do the ones after it.
                    self._held[entry.id] = blocked[1]
                return None
            prepaid = claimed
        attempts = entry.attempts + 1
        route = await self._route(entry, policy)
        if route is None:
            await self._fail(entry, attempts, f"no sender for provider {entry.provider}")
            return None
        try:
            return await self._attempt(entry, attempts, route, policy,
                                       prepaid=prepaid and route.provider == entry.provider)
        finally:
            if route.probe and not route.reported and route.breaker is not None:
                await route.breaker.abandon_probe()

    async def _claim(self, entry: OutboxEntry, policy: DeliverySettings) -> bool | None:
        """Claim this version of the entry: None if it was claimed before (by a sweep racing a submit, or
        another process). True when the tokens of its provider's buckets came with the claim, in the same
        Redis call; not when this process already queues for one of them (those queued go first)."""
        key = _claim_key(entry)
        buckets = self.pacer.buckets(entry, entry.provider, policy)
        if not buckets or any(self.pacer.queued(bucket) for bucket, _ in buckets):
            return None if await self.coordinator.seen(key, ttl=CLAIM_TTL) else False
        wait = await self.coordinator.claim_and_take(
            key, CLAIM_TTL, [(bucket, limit.per_second, limit.burst) for bucket, limit in buckets])
        return None if wait is None else wait <= 0

    async def _attempt(self, entry: OutboxEntry, attempts: int, route: _Route,
                       policy: DeliverySettings, *, prepaid: bool = False) -> OutboxEntry | None:
        reply, note, last_inbound = entry.reply, route.note, None
        # The window is Meta's rule: only a WhatsApp entry going through Meta pays for this lookup.
        if route.provider == "meta" and entry.channel == "whatsapp":
            conv = await self.store.get_conversation(entry.conversation_id)
            last_inbound = conv.last_inbound_at if conv else None
            reply, why = await self._window_reply(entry, last_inbound, policy)
            if reply is None:
                self.metrics.inc("palabre_replies_unsendable_total")
                await self._fail(entry, attempts, why or NOT_SENDABLE)
                return None
            note = why or note
        deadline = self.clock() + policy.max_wait
        for bucket, limit in [] if prepaid else self.pacer.buckets(entry, route.provider, policy):
            wait = await self.pacer.take(bucket, limit, deadline)
            if wait is not None:
                # Waiting longer would hold a task: the store keeps the entry until its turn comes.
                await self._leave_pending(entry, entry.attempts, self.pacer.defer_until(bucket, limit, wait),
                                          entry.error)
                self.metrics.inc("palabre_replies_deferred_total")
                return None
        if route.provider in MULTI_CHANNEL_PROVIDERS:
            # One account serves several channels (Twilio: SMS and WhatsApp): say which one this is.
            reply = reply.model_copy(update={"data": {**reply.data, "channel": entry.channel}})
        try:
            pmid = await route.sender.send(entry.recipient, reply, idempotency_key=entry.id)
        except SendError as exc:
            await route.report(healthy=not counts_as_outage(exc))
            if route.provider == "meta" and reply.template is None and window_closed(exc):
                return await self._window_refused(entry, attempts, exc, last_inbound, policy)
            await self._failed(entry, attempts, exc, policy)
            return None
        except Exception as exc:  # a sender bug must not lose the reply: retry it later
            log.exception("sender %s crashed on entry=%s", route.provider, entry.id)
            await route.report(healthy=False)
            await self._failed(entry, attempts, SendError(type(exc).__name__), policy)
            return None
        await route.report(healthy=True)
        # The outbox has no provider column: a note on the sent entry says how it really went out.
        await self.store.mark_outbox(entry.id, "sent", attempts=attempts, provider_message_id=pmid, error=note)
        self.metrics.inc("palabre_replies_sent_total")
        if route.provider != entry.provider:
            self.metrics.inc("palabre_replies_fallback_total")
        if reply is not entry.reply and reply.template is not None:
            self.metrics.inc("palabre_replies_template_total")
        return None

    # routing and the breaker
    def _sender(self, provider: str, vendor_id: str) -> Sender | None:
        return self.senders.get(f"{provider}:{vendor_id}") or self.senders.get(provider)

    async def _route(self, entry: OutboxEntry, policy: DeliverySettings) -> _Route | None:
        sender = self._sender(entry.provider, entry.vendor_id)
        if sender is None:
            return None
        if entry.provider != "meta" or policy.fallback != "wasender" or not can_fall_back(entry.recipient):
            return _Route(entry.provider, sender)
        fallback = self._sender("wasender", entry.vendor_id)
        if fallback is None:
            return _Route(entry.provider, sender)
        breaker = self.shared.breaker(entry.vendor_id, entry.provider, policy.breaker)
        verdict = await breaker.allow()
        if verdict == "fallback":
            return _Route("wasender", fallback, note="sent via wasender: the meta circuit is open")
        return _Route(entry.provider, sender, breaker=breaker, probe=verdict == "probe")

    # the 24-hour window
    async def _window_reply(self, entry: OutboxEntry, last_inbound: float | None,
                      policy: DeliverySettings) -> tuple[Reply | None, str | None]:
        """(the reply to send, a note) — or (None, the reason) when it may not be sent."""
        if entry.reply.template is not None:
            return entry.reply, None
        refused = await self.shared.window_refused(entry.conversation_id, last_inbound)
        if not refused and not outside_window(last_inbound, self.clock(), policy.window_margin):
            return entry.reply, None
        if policy.whatsapp_template is None:
            return None, NOT_SENDABLE
        reply = template_reply(entry.reply, policy.whatsapp_template)
        if reply is None:
            return None, NO_TEMPLATE_TEXT
        return reply, f"sent as template {policy.whatsapp_template.name}: outside the 24-hour window"

    async def _window_refused(self, entry: OutboxEntry, attempts: int, exc: SendError,
                              last_inbound: float | None, policy: DeliverySettings) -> OutboxEntry | None:
        """Meta says the window is closed (131047): its view wins, so the next try is the template."""
        await self.shared.close_window(entry.conversation_id, last_inbound)
        if policy.whatsapp_template is None:
            self.metrics.inc("palabre_replies_unsendable_total")
            await self._fail(entry, attempts, NOT_SENDABLE)
            return None
        if attempts >= (policy.max_attempts or self.max_attempts):
            await self._fail(entry, attempts, str(exc))
            return None
        now = self.clock()
        await self.store.mark_outbox(entry.id, "pending", attempts=attempts, next_attempt_at=now, error=str(exc))
        self.metrics.inc("palabre_replies_retried_total")
        return entry.model_copy(update={"attempts": attempts, "next_attempt_at": now, "error": str(exc)})

    # failures
    async def _fail(self, entry: OutboxEntry, attempts: int, error: str, code: str | None = None) -> None:
        # The copy is written before the entry is marked failed: a crash in between retries the entry,
        # whose copy then has the same id, instead of losing the reply.
        via = await send_elsewhere(self, entry)
        if via is not None:
            error = f"{error}; sent via {via} instead"
        await self.store.mark_outbox(entry.id, "failed", attempts=attempts, error=error)
        self.metrics.inc("palabre_replies_failed_total", provider=entry.provider)
        # One line per reply that will not arrive, readable without opening the outbox table.
        log.warning("send failed provider=%s vendor=%s recipient=%s code=%s attempts=%d entry=%s%s",
                    entry.provider, entry.vendor_id, mask_address(entry.recipient), code or "-", attempts,
                    entry.id, f" (sent via {via} instead)" if via else "")

    async def _failed(self, entry: OutboxEntry, attempts: int, exc: SendError, policy: DeliverySettings) -> None:
        if exc.retry_after is not None and not exc.permanent:
            # The provider paces us ("retry after"): not this reply's failure, so it spends none of its attempts.
            # Otherwise 10 s of 429s at retry_after 1 s would use up max_attempts and lose the reply.
            attempts = entry.attempts
        elif exc.permanent or attempts >= (policy.max_attempts or self.max_attempts):
            await self._fail(entry, attempts, str(exc), getattr(exc, "code", None))
            return
        if exc.retry_after is not None:
            delay = max(0.0, exc.retry_after)
        else:
            delay = backoff(attempts, policy.retry_base, policy.retry_cap, self.rng)
        await self._leave_pending(entry, attempts, self.clock() + delay, str(exc))
        self.metrics.inc("palabre_replies_retried_total")
