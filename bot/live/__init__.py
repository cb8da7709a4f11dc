"""Live sessions and the vendor's own number: LIVE ON/OFF, catalogue commands, payment notes, summaries."""

from bot.live.desk import VendorDesk
from bot.live.http import install

__all__ = ["VendorDesk", "install"]
