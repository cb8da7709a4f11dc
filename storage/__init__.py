"""Storage: the Store contract, its embedded and MongoDB backends, and Redis coordination."""

from storage.base import Store
from storage.records import (
    Conversation,
    Message,
    Order,
    OutboxEntry,
    Payment,
    Product,
    Timer,
    TurnWrite,
)

__all__ = [
    "Conversation",
    "Message",
    "Order",
    "OutboxEntry",
    "Payment",
    "Product",
    "Store",
    "Timer",
    "TurnWrite",
]
