"""The variables each message may use (docs/templates.md is their table) and sample values for checks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import SimpleNamespace
from typing import Any

from templates.vendor_variables import MESSAGES as VENDOR_MESSAGES
from templates.vendor_variables import SAMPLES as VENDOR_SAMPLES

# Every message may use these; the pipeline always sets them (`slots` and `settings` by the dialog).
COMMON = ("vendor_name", "example_code", "currency", "name", "text", "locale", "slots", "settings")


class SlotView(Mapping[str, Any]):
    """A conversation's slots as wording sees them: an unset slot reads as none, private ones are hidden."""

    def __init__(self, slots: Mapping[str, Any], default: Any = None) -> None:
        self._slots = slots
        self._default = default

    def __getitem__(self, key: str) -> Any:
        if key.startswith("_"):
            raise KeyError(key)
        return self._slots.get(key, self._default)

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._slots if not k.startswith("_"))

    def __len__(self) -> int:
        return sum(1 for _ in self)

# The attributes a template may read on an object; anything else (the buyer's full address on an
# order, ids) is not in scope, so vendor wording cannot leak it.
FIELDS: dict[str, tuple[str, ...]] = {
    "product": ("code", "name", "price", "stock", "description", "image_url"),
    "order": ("product_code", "product_name", "quantity", "unit_price", "total", "status", "reserved_until",
              "payment_method", "receipt", "created_at", "paid_at"),
}
FIELDS |= {"suggestion": FIELDS["product"], "last_product": FIELDS["product"]}  # adaptive wording (bot/buyers)
LISTS = {"products": "product"}  # a list variable -> the kind of its items

# a question about the shop itself (bot/commerce/about.py): what the vendor wrote for each topic asked
ABOUT = ("about_address?", "about_hours?", "about_delivery?", "about_missing")

# segment -> message -> the variables it may use beyond COMMON; a trailing "?" marks one that may be
# None (the buyer has no order yet, or named no product), which the wording must handle.
MESSAGES: dict[str, dict[str, tuple[str, ...]]] = {
    "live_seller": {
        "about": ABOUT,
        "welcome": (), "help": (), "human": (), "thanks": (), "goodbye": (), "not_understood": (),
        "offer_human": (), "stale_button": (), "prompt_idle": (), "prompt_offered": (), "prompt_awaiting": (),
        "no_appointments": (), "nothing_to_cancel": (), "nothing_to_pay": (),
        "payment_pending": (), "pay_on_delivery": (), "complaint": (), "payment_failed": (),
        "catalogue": ("products",),
        "offer": ("product", "quantity", "total", "minutes", "stock_left", "reserved_until", "buyer_kind", "tier",
                  "low_stock", "prepaid", "also_named?"),
        "welcome_again": ("buyer_kind", "tier", "last_product"), "welcome_returning": ("buyer_kind", "tier"),
        "sold_out": ("product",),
        "buyer_refused": ("refusal",),
        "product_info": ("product?",),
        "already_reserved": ("order", "order_status_label", "wanted?"),
        "order_status": ("order?", "order_status_label"),
        "choose_method": ("order?",),
        "payment_link": ("order", "link", "method_label"),
        "confirmation": ("order", "refund", "badges", "tier", "suggestion?", "suggestion_reason?"),
        "cancelled": ("order?",),
        "reminder": ("order",),
        "expired": ("order",),
        "vendor_paid": ("order", "buyer", "stock_left"),
    },
    "shop": {
        "about": ABOUT,
        "welcome": (), "help": (), "human": (), "thanks": (), "goodbye": (), "not_understood": (),
        "offer_human": (), "stale_button": (), "prompt_idle": (), "prompt_offered": (), "prompt_awaiting": (),
        "nothing_to_cancel": (), "nothing_to_pay": (),
        "payment_pending": (), "pay_on_delivery": (), "complaint": (), "payment_failed": (), "ask_quantity_number": (),
        "bad_quantity": (), "too_many": (), "not_enough": (), "nothing_reserved": (), "ask_address": (),
        "bad_address": (), "address_noted": (), "welcome_back": (),
        "catalogue": ("products",),
        "ask_quantity": ("product?",), "only_left": ("places_left",), "quantity_again": (),
        "offer": ("product", "quantity", "total", "minutes", "stock_left", "reserved_until", "buyer_kind", "tier",
                  "low_stock", "prepaid", "also_named?"),
        "sold_out": ("product",),
        "product_info": ("product?",),
        "already_reserved": ("order", "order_status_label", "wanted?"),
        "order_status": ("order?", "order_status_label"),
        "choose_method": ("order?",),
        "payment_link": ("order", "link", "method_label"),
        "confirmation": ("order", "refund", "badges", "tier", "suggestion?", "suggestion_reason?"),
        "cancelled": ("order?",),
        "reminder": ("order",),
        "expired": ("order",),
        "vendor_paid": ("order", "buyer", "stock_left"),
    },
    "services": {
        "about": ABOUT,
        "welcome": (), "help": (), "pick_a_slot": (), "slot_taken": (), "offer_expired": (), "nothing_booked": (),
        "nothing_to_cancel": (),
        "prompt_idle": (), "prompt_booked": (), "prompt_confirming": (), "human": (), "complaint": (), "thanks": (),
        "goodbye": (), "not_understood": (), "offer_human": (), "stale_button": (),
        "catalogue": ("products",),
        "free_slots": ("product?", "offered?", "asked?", "asked_free?"),
        "no_slots": ("product?", "hours?"),
        "product_info": ("product?",),
        "booked": ("product?", "when", "moved_from?"),
        "reminder": ("when",), "see_you": ("when",), "already_booked": ("when",), "booking_kept": ("when",),
        "booking_cancelled": ("when?",), "booking_status": ("when?",),
    },
    "microfinance": {
        "menu": (), "balance": (), "balance_unavailable": (), "loan_intro": (), "ask_amount": (), "bad_amount": (),
        "ask_months": (), "bad_months": (), "ask_purpose": (), "ask_income": (), "bad_income": (), "summary": (),
        "officer": (), "application_dropped": (), "application_timed_out": (), "human": (), "thanks": (),
        "goodbye": (), "not_understood": (), "offer_human": (), "stale_button": (),
        "action_text": ("action_text",),
    },
    "b2b": {
        "about": ABOUT,
        "welcome": (), "help": (), "human": (), "thanks": (), "goodbye": (), "not_understood": (),
        "offer_human": (), "stale_button": (), "prompt_idle": (), "prompt_offered": (), "prompt_awaiting": (),
        "prompt_priced": (),
        "nothing_to_cancel": (), "nothing_to_pay": (), "pay_on_delivery": (),
        "payment_pending": (), "complaint": (), "payment_failed": (), "bad_quantity": (), "too_many": (),
        "not_enough": (), "nothing_ordered": (), "quote_unavailable": (), "no_terms": (), "welcome_back": (),
        "terms_offered": (),
        "catalogue": ("products",),
        "ask_quantity": ("product?",), "quantity_again": (),
        "priced": ("product?", "quantity", "total", "quoted?", "also_named?"),
        "quote": ("product", "quantity", "total", "quote_url", "quote_reference", "valid_until"),
        "order_terms": ("product", "quantity", "total", "minutes", "stock_left", "reserved_until", "quoted?"),
        "invoiced": ("order", "invoice", "due_date", "net_days"),
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
        "vendor_invoiced": ("order", "buyer", "invoice", "due_date"),
    },
    "vendor": VENDOR_MESSAGES,  # to the vendor on their own number (bot/live)
    "events": {
        "about": ABOUT,
        "welcome": (), "help": (), "human": (), "thanks": (), "goodbye": (), "not_understood": (),
        "offer_human": (), "stale_button": (), "prompt_idle": (), "prompt_offered": (), "prompt_awaiting": (),
        "nothing_to_cancel": (), "nothing_to_pay": (), "pay_on_delivery": (),
        "payment_pending": (), "complaint": (), "payment_failed": (), "bad_places": (), "too_many": (),
        "nothing_reserved": (), "places_again": (),
        "catalogue": ("products",),
        "ask_places": ("product?", "places_left", "deposit"),
        "not_enough_places": ("product", "places_left"),
        "offer": ("product", "quantity", "total", "deposit", "balance", "minutes", "stock_left", "reserved_until"),
        "sold_out": ("product",),
        "product_info": ("product?",),
        "already_reserved": ("order", "order_status_label", "wanted?"),
        "order_status": ("order?", "order_status_label"),
        "choose_method": ("order?",),
        "payment_link": ("order", "link", "method_label"),
        "confirmation": ("order", "refund"),
        "ticket": ("order", "refund", "balance"),
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
    **VENDOR_SAMPLES,
    "vendor_name": ("Boutique Awa",), "example_code": ("ROBE1",), "currency": ("XOF",), "name": ("Awa", None),
    "text": ("bonjour",), "products": ([_PRODUCT, {**_PRODUCT, "code": "SAC2", "stock": 0}], []),
    "product": (_PRODUCT, {**_PRODUCT, "stock": 0}), "quantity": (2, 1), "total": (30000,),
    "minutes": (10,), "stock_left": (1, 0, 5), "reserved_until": (1_781_000_600.0,),
    "order": (_ORDER, {**_ORDER, "receipt": None}), "order_status_label": ("payée",),
    "link": ("https://pay.example.com/p/123",), "method_label": ("Wave",), "refund": (False, True),
    "buyer": ("+221 77 *** ** 01",), "places_left": (12, 0), "action_text": ("Votre dossier est complet.",),
    "offered": (["mar. 09/06 12:00", "mar. 09/06 13:00", "mar. 09/06 14:00"], ["mar. 09/06 12:00"]),
    "asked": ("sam. 13/06", "sam. 13/06 10:00", None), "asked_free": (True, False),
    "hours": ("mar.–jeu. 09:00–13:00, 15:00–19:00 ; sam. 09:00–14:00", None),
    "about_address": ("Marché HLM, box 12, Dakar",), "about_hours": ("lun.–sam. 9h–20h",),
    "about_delivery": ("Dakar 1 000 F, Thiès 2 500 F, sous 24 h",), "about_missing": (False, True),
    "when": ("mar. 09/06 12:00",), "moved_from": ("mar. 09/06 15:00", None), "wanted": (3,), "deposit": (7500,),
    "balance": (7500, 0),
    "also_named": (["SAC2", "FOULARD1"], []),
    "refusal": ("low_trust", "too_many_orders"),
    "quote_url": ("https://palabre.example.com/quotes/3kTq9vX2bYpL7mN4wR8sD1fG.pdf",),
    "quote_reference": ("DEV-20260609-3F2A",), "quoted": ("DEV-20260609-3F2A",), "valid_until": ("09/07/2026",),
    "invoice": ("FAC-20260609-7C1E",),
    "due_date": ("09/07/2026",), "net_days": (30,),
    "buyer_kind": ("new", "returning", "vip", ""), "tier": ("gold", "diamond", "silver", "bronze"),
    "low_stock": (True, False), "prepaid": (False, True), "last_product": (_PRODUCT,),
    "badges": (["first_buyer", "first_today", "fast_payer", "loyal", "verified"], []),
    "suggestion": ({**_PRODUCT, "code": "SAC2"},),
    "suggestion_reason": ("bought_together", "same_tag"),
    # any slot or setting a dialog declares reads as a number in checks (a wording may format it as money)
    "slots": (SlotView({}, default=2),), "settings": (SlotView({}, default=50),),
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


__all__ = ["COMMON", "FIELDS", "MESSAGES", "SAMPLES", "SlotView", "allowed", "optional", "sample_sets", "scope"]
