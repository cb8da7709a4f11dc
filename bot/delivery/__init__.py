"""Delivery: the outbox worker and its policy (rate limits, retries, fallback, 24 h window)."""

from bot.delivery.outbox import Delivery, backoff

__all__ = ["Delivery", "backoff"]
