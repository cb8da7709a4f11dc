"""The vendor dashboard: live figures, stock and sales velocity of one vendor, buyer cards, live updates."""

from bot.dashboard.feed import Feed

__all__ = ["Feed"]
