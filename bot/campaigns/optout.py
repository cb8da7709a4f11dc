"""Opt-out and opt-in by keyword (STOP, ARRET, désabonner / START) on any channel, confirmed once."""

from __future__ import annotations

import functools
import logging
import re
import time
import unicodedata

from channels import Event, Reply
from channels.base import mask_address
from storage.campaigns import CampaignContact, CampaignStore, contact_id

log = logging.getLogger("palabre.campaigns")

STOP = frozenset({"STOP", "STOPALL", "ARRET", "ARRETER", "ARRETEZ", "UNSUBSCRIBE", "DESABONNER", "ME DESABONNER",
                  "DESABONNEMENT", "DESINSCRIRE", "ME DESINSCRIRE", "JE VEUX ME DESABONNER"})
START = frozenset({"START", "UNSTOP", "SUBSCRIBE", "ABONNER", "M ABONNER", "REABONNER", "ME REABONNER"})
TEXTS = {
    "fr": {"stop": "C'est noté : vous ne recevrez plus nos messages promotionnels. Envoyez START pour vous réabonner.",
           "start": "C'est noté : vous recevez à nouveau nos offres. Envoyez STOP pour vous désabonner."},
    "en": {"stop": "Done: you will no longer receive our promotional messages. Send START to subscribe again.",
           "start": "Done: you will receive our offers again. Send STOP to unsubscribe."},
}


def keyword(text: str | None) -> str | None:
    """'stop' or 'start' when the whole message is one of the keywords (any case, accents, punctuation)."""
    if not text or len(text) > 40:
        return None
    return _keyword(text)


@functools.lru_cache(maxsize=4096)  # every message is checked; a live sale repeats a few short texts
def _keyword(text: str) -> str | None:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().upper()
    words = " ".join(re.sub(r"[^A-Z]+", " ", plain).split())
    if words in STOP:
        return "stop"
    if words in START:
        return "start"
    return None


def _address_field(channel: str) -> str:
    return {"telegram": "telegram", "email": "email"}.get(channel, "phone")


async def handle(store: CampaignStore, event: Event, locale: str) -> list[Reply] | None:
    """The replies to an opt-out or opt-in message (empty when already confirmed); None when it is not one."""
    if event.kind != "message" or event.payload:
        # A command or a tap is not a typed keyword: Telegram's /start opens every conversation.
        return None
    word = keyword(event.text)
    if word is None:
        return None
    address = event.contact.address
    contact = await store.find_contact(event.vendor_id, address)
    at = time.time()
    if contact is None:
        # Someone never imported: remembered, so a later import cannot put them back on a list.
        contact = CampaignContact(id=contact_id(event.vendor_id, address), vendor_id=event.vendor_id,
                                  name=event.contact.name, **{_address_field(event.channel): address})
    wanted = "opted_out" if word == "stop" else "opted_in"
    replayed = contact.consent_event == event.id  # the same turn again (a retry after a conflict or a crash)
    confirm = replayed or contact.consent != wanted or (word == "stop" and not contact.optout_confirmed)
    changes: dict[str, object] = {"consent": wanted, "updated_at": at, "last_active_at": at}
    if contact.consent != wanted:
        changes.update(consent_at=at, consent_source=event.channel)
    changes["optout_confirmed"] = word == "stop"
    if confirm:
        changes["consent_event"] = event.id
    await store.save_contact(contact.model_copy(update=changes))
    log.info("consent vendor=%s contact=%s channel=%s -> %s", event.vendor_id, mask_address(address),
             event.channel, wanted)
    if not confirm:
        return []
    return [Reply(text=TEXTS.get(locale, TEXTS["fr"])[word])]
