"""Storage: the Store contract, its embedded and MongoDB backends, and Redis coordination."""

from storage.base import Store
from storage.records import (
    ChannelAccount,
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
    "ChannelAccount",
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
