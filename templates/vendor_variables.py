"""The variables of the messages to the vendor (templates/vendor/, sent by bot/live) and their sample values."""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, tuple[str, ...]] = {
    "vendor_help": (), "live_not_on": (),
    "live_started": ("session",), "live_already_on": ("session",),
    "live_summary": ("summary",), "daily_summary": ("summary",),
    "payment_totals": ("live_totals?", "stock_alert?"),
    "stock_set": ("product",), "price_set": ("product", "old_price"),
    "product_added": ("product",), "product_removed": ("product",),
    "command_refused": ("problem", "argument"),
}

_SUMMARY: dict[str, Any] = {
    "started_at": 1_781_000_000.0, "ended_at": 1_781_005_400.0, "duration_minutes": 90, "revenue": 450_000,
    "orders": 40, "paid": 30, "expired": 8, "cancelled": 2, "pending": 0, "conversion": 75, "buyers": 35,
    "new_buyers": 20, "returning_buyers": 15,
    "best_seller": {"code": "ROBE1", "name": "Robe Wax Ankara", "units": 12, "revenue": 180_000},
    "tip": {"kind": "sold_out", "codes": ["ROBE1", "SAC2"]},
}

SAMPLES: dict[str, tuple[Any, ...]] = {
    "session": ({"started_at": 1_781_000_000.0},),
    "summary": (_SUMMARY, {**_SUMMARY, "best_seller": None, "tip": None, "orders": 0, "cancelled": 0},
                {**_SUMMARY, "tip": {"kind": "low", "codes": ["SAC2"]}, "pending": 3},
                {**_SUMMARY, "tip": {"kind": "unsold", "codes": ["FOULARD1"]}}),
    "live_totals": ({"paid": 12, "revenue": 180_000},),
    "stock_alert": ({"code": "ROBE1", "name": "Robe Wax Ankara", "stock": 2},
                  {"code": "ROBE1", "name": "Robe Wax Ankara", "stock": 0}),
    "old_price": (15_000,),
    "problem": ("unknown_command", "unknown_product", "exists", "removed", "bad_number", "zero_price", "bad_code",
                "usage"),
    "argument": ("ROBE1",),
}
