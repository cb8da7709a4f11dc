"""Adaptive wording: which buyer this is (new, returning, VIP), low-stock urgency, badges, plain text.

The vendor switches each piece off under `settings.adaptive` (AdaptiveSettings); the functions here
only decide, the wording is in templates/<segment>/ (docs/templates.md lists the variables).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import emoji
from pydantic import BaseModel, ConfigDict, Field

from bot.buyers.records import BuyerRecord
from bot.buyers.trust import FAST_PAYER_S
from channels import Reply
from channels.events import Channel
from storage import Order

BuyerKind = Literal["new", "returning", "vip", ""]
VIP_TIERS = ("gold", "diamond")
# The badges of the product documents (02-livepay-product-vision): "Fidèle" at 3 purchases with the
# same vendor, "Vérifié" at 5 successful payments without incident; "Payeur rapide" under 2 minutes.
LOYAL_PAYMENTS = 3
VERIFIED_PAYMENTS = 5
Badge = Literal["first_buyer", "first_today", "fast_payer", "loyal", "verified"]
FirstBuyer = Literal["live", "day"] | None  # first paid order of the open live, or of the day without one
DEFAULT_PLAIN: tuple[Channel, ...] = ("sms",)


class AdaptiveSettings(BaseModel):
    """A vendor's `settings.adaptive`: every adaptive message is on by default and can be switched off."""

    model_config = ConfigDict(extra="forbid")

    welcome: bool = True  # a first order opens with a welcome line
    returning: bool = True  # "le même que la dernière fois ?" for a buyer who bought before
    vip: bool = True  # the VIP line for gold and diamond buyers
    low_stock: bool = True  # "plus que 2 !" once the stock left is at most `low_stock_threshold`
    low_stock_threshold: int = Field(default=2, ge=0, le=10_000)
    badges: bool = True  # first buyer of the live, fast payer, loyal, verified: in the payment confirmation
    suggestion: bool = True  # one complementary product after payment (never to a bronze buyer)
    plain_channels: list[Channel] = Field(default_factory=lambda: list(DEFAULT_PLAIN))  # answered without emojis


def adaptive_settings(settings: Mapping[str, Any]) -> AdaptiveSettings:
    value = settings.get("adaptive")
    if isinstance(value, AdaptiveSettings):
        return value
    return AdaptiveSettings.model_validate(value or {})


def buyer_kind(record: BuyerRecord, adaptive: AdaptiveSettings) -> BuyerKind:
    """`new` before a first order, `vip` for a gold or diamond buyer, `returning` for one who bought
    before; "" when the vendor switched that line off (or the buyer ordered but never paid)."""
    if record.orders == 0:
        return "new" if adaptive.welcome else ""
    if record.payments == 0:
        return ""
    if adaptive.vip and record.tier in VIP_TIERS:
        return "vip"
    return "returning" if adaptive.returning else ""


def low_stock(stock_left: int, adaptive: AdaptiveSettings) -> bool:
    """The urgency line: some stock is left, but no more than the vendor's threshold."""
    return adaptive.low_stock and 0 < stock_left <= adaptive.low_stock_threshold


def stock_alert_at(settings: Mapping[str, Any]) -> int:
    """The stock at or under which the vendor is warned (dashboard, payment notes, stock tips): one unit
    before buyers read "plus que N", so the vendor has the lead time to restock."""
    return adaptive_settings(settings).low_stock_threshold + 1


def badges(record: BuyerRecord, order: Order, *, first: FirstBuyer, adaptive: AdaptiveSettings) -> list[Badge]:
    """The badges a buyer holds with this payment (`record` already counts it)."""
    if not adaptive.badges:
        return []
    held: list[Badge] = []
    if first is not None:
        held.append("first_buyer" if first == "live" else "first_today")
    if order.paid_at is not None and order.paid_at - order.created_at < FAST_PAYER_S:
        held.append("fast_payer")
    if record.payments >= LOYAL_PAYMENTS:
        held.append("loyal")
    if record.payments >= VERIFIED_PAYMENTS and record.expired == 0 and not record.score.flagged:
        held.append("verified")
    return held


_SPACES = re.compile(r"[ \t]{2,}")


def plain_text(text: str) -> str:
    """The text without emojis (and the spaces they leave), each line kept."""
    lines = (_SPACES.sub(" ", emoji.replace_emoji(line, "")).strip() for line in text.split("\n"))
    return "\n".join(lines).strip()


def plain_reply(reply: Reply) -> Reply:
    """A reply for SMS or a channel the vendor marked slow: its text and button titles without emojis."""
    buttons = [b.model_copy(update={"title": plain_text(b.title) or b.title}) for b in reply.buttons]
    return reply.model_copy(update={"text": plain_text(reply.text or "") if reply.text else reply.text,
                                    "buttons": buttons})


def plain_channel(settings: Mapping[str, Any], channel: str) -> bool:
    """Replies on `channel` go out without emojis; read on every turn, so without building the model."""
    value = settings.get("adaptive")
    if isinstance(value, AdaptiveSettings):
        return channel in value.plain_channels
    return channel in (value or {}).get("plain_channels", DEFAULT_PLAIN)


__all__ = ["AdaptiveSettings", "Badge", "BuyerKind", "FirstBuyer", "adaptive_settings", "badges", "buyer_kind",
           "low_stock", "plain_channel", "plain_reply", "plain_text", "stock_alert_at"]
