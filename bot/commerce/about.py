"""`answer_about`: the vendor's own words when a buyer asks about the shop (delivery, address, opening hours)."""

from __future__ import annotations

from dialogs import Registry, Turn


async def answer_about(turn: Turn) -> bool:
    """True when the message asks about the shop itself (a `topic` entity, intents/topics.py).

    Sets `about_address`, `about_hours`, `about_delivery` to the vendor's text for each topic asked and
    written in the vendor file's `about:`, and `about_missing` when one asked was not written (the wording
    then offers a person rather than guessing). Not for a paid order's delivery, which its status answers.
    """
    topics = {e.get("value") for e in turn.parse.get("entities", ()) if e.get("entity") == "topic"}
    if not topics:
        return False
    order_id = turn.slots.get("order_id") or turn.slots.get("last_order_id")
    if order_id and (turn.parse.get("intent") or {}).get("name") == "order_status":
        # a buyer whose order is paid and on its way means that one ("vous livrez quand ?"): its status answers;
        # one still deciding whether to pay ("vous livrez à Thiès ?") gets the vendor's answer
        order = await turn.services.store.get_order(order_id)
        if order is not None and order.status == "paid":
            return False
    about = turn.services.vendor.config.about
    written = {"location": about.address, "hours": about.hours, "delivery": about.delivery}
    turn.variables.update(
        about_address=written["location"] if "location" in topics else None,
        about_hours=written["hours"] if "hours" in topics else None,
        about_delivery=written["delivery"] if "delivery" in topics else None,
        about_missing=any(not written.get(topic) for topic in topics),
    )
    return True


def register(registry: Registry) -> Registry:
    registry.add(answer_about.__name__, answer_about)
    return registry
