"""The variables each message may use (docs/templates.md is their table) and sample values for checks."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

# Every message may use these; the pipeline always sets them.
COMMON = ("vendor_name", "example_code", "currency", "name", "text", "locale")

# The attributes a template may read on an object; anything else (the buyer's full address on an
# order, ids) is not in scope, so vendor wording cannot leak it.
FIELDS: dict[str, tuple[str, ...]] = {
    "product": ("code", "name", "price", "stock", "description", "image_url"),
    "order": ("product_code", "product_name", "quantity", "unit_price", "total", "status", "reserved_until",
              "payment_method", "receipt", "created_at", "paid_at"),
}
LISTS = {"products": "product"}  # a list variable -> the kind of its items

# segment -> message -> the variables it may use beyond COMMON; a trailing "?" marks one that may be
# None (the buyer has no order yet, or named no product), which the wording must handle.
MESSAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "live_seller": {
        "welcome": (), "help": (), "human": (), "thanks": (), "goodbye": (), "not_understood": (),
        "offer_human": (), "stale_button": (), "prompt_idle": (), "prompt_offered": (), "prompt_awaiting": (),
        "no_appointments": (), "nothing_to_cancel": (), "complaint": (), "payment_failed": (),
        "catalogue": ("products",),
        "offer": ("product", "quantity", "total", "minutes", "stock_left", "reserved_until"),
        "sold_out": ("product",),
        "product_info": ("product?",),
        "already_reserved": ("order", "order_status_label"),
        "order_status": ("order?", "order_status_label"),
        "choose_method": ("order?",),
        "payment_link": ("order", "link", "method_label"),
        "confirmation": ("order", "refund"),
        "cancelled": ("order?",),
        "reminder": ("order",),
        "expired": ("order",),
        "vendor_paid": ("order", "buyer", "stock_left"),
    },
}


def allowed(segment: str, key: str) -> tuple[str, ...]:
    """The names in scope when `key` of `segment` renders."""
    return (*COMMON, *(n.rstrip("?") for n in MESSAGES.get(segment, {}).get(key, ())))


def optional(segment: str, key: str) -> frozenset[str]:
    """The names of `key` that may be None."""
    return frozenset(n[:-1] for n in MESSAGES.get(segment, {}).get(key, ()) if n.endswith("?"))


def _view(kind: str, value: Any) -> Any:
    if value is None or isinstance(value, SimpleNamespace):
        return value
    if isinstance(value, Mapping):
        return SimpleNamespace(**{f: value.get(f) for f in FIELDS[kind]})
    return SimpleNamespace(**{f: getattr(value, f, None) for f in FIELDS[kind]})


def scope(names: tuple[str, ...], variables: Mapping[str, Any]) -> dict[str, Any]:
    """The context a message renders with: only its documented names, objects cut to their documented fields."""
    ctx: dict[str, Any] = {}
    for name in names:
        if name not in variables:
            continue
        value = variables[name]
        if name in FIELDS:
            value = _view(name, value)
        elif name in LISTS and value is not None:
            value = [_view(LISTS[name], item) for item in value]
        ctx[name] = value
    return ctx


_PRODUCT = {"code": "ROBE1", "name": "Robe Wax Ankara", "price": 15000, "stock": 3, "description": "Taille unique",
            "image_url": "https://example.com/robe.jpg"}
_ORDER = {"product_code": "ROBE1", "product_name": "Robe Wax Ankara", "quantity": 2, "unit_price": 15000,
          "total": 30000, "status": "awaiting_payment", "reserved_until": 1_781_000_600.0, "payment_method": "wave",
          "receipt": "LP-2026-0612-A3F2", "created_at": 1_781_000_000.0, "paid_at": 1_781_000_300.0}

# Each variable's sample values: a check renders every message once per alternative, so both
# branches of `{% if order %}` or `{% if refund %}` are exercised.
SAMPLES: dict[str, tuple[Any, ...]] = {
    "vendor_name": ("Boutique Awa",), "example_code": ("ROBE1",), "currency": ("XOF",), "name": ("Awa", None),
    "text": ("bonjour",), "products": ([_PRODUCT, {**_PRODUCT, "code": "SAC2", "stock": 0}], []),
    "product": (_PRODUCT, {**_PRODUCT, "stock": 0}), "quantity": (2, 1), "total": (30000,),
    "minutes": (10,), "stock_left": (1, 0, 5), "reserved_until": (1_781_000_600.0,),
    "order": (_ORDER, {**_ORDER, "receipt": None}), "order_status_label": ("payée",),
    "link": ("https://pay.example.com/p/123",), "method_label": ("Wave",), "refund": (False, True),
    "buyer": ("+221 77 *** ** 01",),
}


def sample_sets(segment: str, key: str, locale: str) -> list[dict[str, Any]]:
    """Contexts covering every sample of every variable of a message (one variable varied at a time)."""
    names = allowed(segment, key)
    first = {n: SAMPLES[n][0] for n in names if n in SAMPLES}
    first["locale"] = locale
    sets = [first]
    for n in names:
        alternatives = [*SAMPLES.get(n, ())[1:], *([None] if n in optional(segment, key) else [])]
        sets.extend({**first, n: alt} for alt in alternatives)
    return [scope(names, s) for s in sets]


__all__ = ["COMMON", "FIELDS", "MESSAGES", "SAMPLES", "allowed", "optional", "sample_sets", "scope"]
