"""Storage: the Store contract, its embedded and MongoDB backends, and Redis coordination."""

from storage.base import ConflictError, Store
from storage.records import (
    ChannelAccount,
    Conversation,
    Document,
    Message,
    Order,
    OutboxEntry,
    Payment,
    Product,
    Timer,
    TurnWrite,
)

__all__ = [
    "ChannelAccount",
    "ConflictError",
    "Conversation",
    "Document",
    "Message",
    "Order",
    "OutboxEntry",
    "Payment",
    "Product",
    "Store",
    "Timer",
    "TurnWrite",
]
