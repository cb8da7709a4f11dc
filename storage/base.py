"""The `Store` contract: the only door to persistence, speaking the domain, not queries."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from channels import Event
from storage.dead_letters import DeadLetter
from storage.records import (
    ChannelAccount,
    Conversation,
    Document,
    Message,
    Order,
    OrderStatus,
    OutboxEntry,
    Payment,
    Product,
    Timer,
    TurnWrite,
)


class ConflictError(RuntimeError):
    """A turn's conversation changed since the turn loaded it: another writer got there first.

    Transient for the caller: reload the conversation and run the turn again.
    """


class Store(ABC):
    """Persistence contract shared by every backend (embedded, MongoDB).

    Durability: when a coroutine that writes returns, the write survives a crash of this
    process. Every write is idempotent on its record id, so replaying a turn after a crash
    writes the same records again instead of new ones.
    """

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Open connections and create indexes."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources."""

    def fault(self) -> str | None:
        """What keeps the store from making writes durable right now (e.g. a checkpoint that keeps
        failing), or None when healthy; /readyz fails while it is set."""
        return None

    def counters(self) -> dict[str, float]:
        """Monotonic counters for /metrics, by Prometheus name."""
        return {}

    # inbox
    @abstractmethod
    async def add_events(self, events: Iterable[Event]) -> list[bool]:
        """Persist inbound events; True for each one not seen before (unique on event id)."""

    @abstractmethod
    async def is_processed(self, event_id: str) -> bool:
        """Whether a turn for this event was committed."""

    @abstractmethod
    async def unprocessed_events(self, limit: int = 1000) -> list[Event]:
        """Events persisted but not yet processed, oldest first (for recovery)."""

    # conversations and turns
    @abstractmethod
    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    @abstractmethod
    async def conversations_with(self, vendor_id: str, address: str) -> list[Conversation]:
        """The buyer's conversations with a vendor on every channel (one address, e.g. +221… on WhatsApp
        and SMS), most recently active first."""

    @abstractmethod
    async def commit_turn(self, turn: TurnWrite) -> None:
        """Write a turn's conversation, messages, outbox entries and timers; mark the event processed.

        With `turn.expected_version` set, the write happens only if the stored conversation still has
        that version (0 for one not stored yet) and stores it as `expected_version + 1`; otherwise
        nothing is written and ConflictError is raised (optimistic concurrency: a turn that outlived
        its lock can never overwrite a newer turn).
        """

    @abstractmethod
    async def transcript(self, conversation_id: str) -> list[Message]:
        """All messages of a conversation in the order they were written."""

    @abstractmethod
    async def update_message_status(
        self, provider_message_id: str, status: str, error: str | None = None
    ) -> bool:
        """Record a delivery status reported by a provider; False when no message has that id."""

    # outbox
    @abstractmethod
    async def pending_outbox(self, now: float, limit: int = 100) -> list[OutboxEntry]:
        """Pending entries due at `now`, oldest first."""

    @abstractmethod
    async def mark_outbox(
        self,
        entry_id: str,
        status: str,
        *,
        attempts: int,
        next_attempt_at: float = 0.0,
        error: str | None = None,
        provider_message_id: str | None = None,
    ) -> None:
        """Record a delivery attempt; on 'sent' the message gets the provider's id."""

    # timers
    @abstractmethod
    async def due_timers(self, now: float, limit: int = 100) -> list[Timer]: ...

    @abstractmethod
    async def delete_timer(self, timer_id: str) -> None: ...

    # catalogue and stock
    @abstractmethod
    async def ensure_products(self, products: Iterable[Product]) -> None:
        """Insert products that do not exist yet; existing stock is left as it is."""

    @abstractmethod
    async def get_product(self, vendor_id: str, code: str) -> Product | None: ...

    @abstractmethod
    async def get_product_and_hold(self, vendor_id: str, code: str, hold_id: str) -> tuple[Product | None, bool]:
        """The product and whether `hold_id` holds units of it, in one read: a reservation that finds the
        product sold out and nothing held under its id needs no stock change (a replayed one finds its hold)."""

    @abstractmethod
    async def list_products(self, vendor_id: str) -> list[Product]: ...

    @abstractmethod
    async def set_stock(self, vendor_id: str, code: str, stock: int) -> None: ...

    @abstractmethod
    async def reserve_stock(self, vendor_id: str, code: str, qty: int, hold_id: str) -> bool:
        """Atomically take `qty` units under `hold_id`; never below zero.

        Idempotent: a second call with the same hold id returns True without taking more.
        """

    @abstractmethod
    async def release_stock(self, vendor_id: str, code: str, hold_id: str) -> bool:
        """Give a hold's units back; False (and no change) if the hold is not held."""

    @abstractmethod
    async def consume_hold(self, vendor_id: str, code: str, hold_id: str) -> bool:
        """The held units are sold: drop the hold without returning stock."""

    # provider accounts registered at run time
    @abstractmethod
    async def save_channel_account(self, account: ChannelAccount) -> None:
        """Create or replace the account of (provider, vendor)."""

    @abstractmethod
    async def channel_accounts(self, provider: str | None = None) -> list[ChannelAccount]: ...

    # orders and payments
    @abstractmethod
    async def save_order(self, order: Order) -> None: ...

    @abstractmethod
    async def get_order(self, order_id: str) -> Order | None: ...

    @abstractmethod
    async def buyer_orders(self, vendor_id: str, address: str, limit: int = 1000) -> list[Order]:
        """A buyer's orders with a vendor on every channel (one canonical address), oldest first, at most
        the `limit` most recent: what the buyer's record and trust score are folded from."""

    @abstractmethod
    async def vendor_orders(self, vendor_id: str, since: float = 0.0, limit: int = 100_000) -> list[Order]:
        """A vendor's orders created at or after `since`, oldest first, at most the `limit` most recent:
        what live summaries, the dashboard and sales velocity are computed from."""

    async def vendor_paid_totals(self, vendor_id: str, since: float = 0.0) -> tuple[int, int]:
        """(paid orders, their revenue) among the vendor's orders created at or after `since`: a live's
        totals on each payment note, without reading every order. Stores override it with one query."""
        paid = [o for o in await self.vendor_orders(vendor_id, since) if o.status == "paid"]
        return len(paid), sum(o.total for o in paid)

    @abstractmethod
    async def transition_order(
        self, order_id: str, from_statuses: Iterable[OrderStatus], to_status: OrderStatus, **fields: object
    ) -> Order | None:
        """Conditional update: only if the order is in one of `from_statuses`; returns the new order."""

    @abstractmethod
    async def save_payment(self, payment: Payment) -> None: ...

    @abstractmethod
    async def get_payment(self, payment_id: str) -> Payment | None: ...

    @abstractmethod
    async def transition_payment(
        self, payment_id: str, from_status: str, to_status: str
    ) -> Payment | None:
        """Conditional status change; None when the payment is not in `from_status`."""

    @abstractmethod
    async def pending_payments(self, created_before: float, limit: int = 100, status: str = "pending"
                               ) -> list[Payment]:
        """Payments still pending that were created before `created_before`, oldest first: the work
        of the poller that asks a PSP about payments whose webhook never came (`status` "refund_due":
        the refunds to make)."""

    # dead letters
    @abstractmethod
    async def dead_letter(self, letter: DeadLetter, turn: TurnWrite) -> None:
        """Set an event aside as dead with its error, together with `turn` (its apology, or nothing)
        committed as the event's turn, so the event counts as processed until it is replayed."""

    @abstractmethod
    async def dead_letters(self, vendor_id: str | None = None, limit: int = 1000) -> list[DeadLetter]:
        """Dead letters, oldest first; only the vendor's with `vendor_id`."""

    @abstractmethod
    async def revive_event(self, event_id: str) -> Event | None:
        """Take an event off the dead-letter list and mark it unprocessed; the event to queue again.

        None when `event_id` is not a dead letter. Raises ValueError (and leaves it dead) when the
        stored event cannot be loaded.
        """

    @abstractmethod
    async def quarantine_unloadable(self, limit: int = 100_000) -> list[DeadLetter]:
        """Move unprocessed events that no longer load (a poison event stored by an older version) to the
        dead letters, so that `unprocessed_events` and start-up never fail because of one of them."""

    # documents (b2b quotes): not abstract, so stores written before them still load
    async def save_document(self, document: Document) -> None:
        """Keep a document (idempotent on its id: saving it again replaces it)."""
        raise NotImplementedError

    async def get_document(self, document_id: str) -> Document | None:
        """The document with this id, or None."""
        raise NotImplementedError

    async def sync_products(self, products: Iterable[Product]) -> None:
        """The vendor file's catalogue at start-up: new products are added with their stock; existing
        ones take the file's name, price, description and image, and keep their stock (sales and
        `palabre stock` own it)."""
        raise NotImplementedError
