"""The words of the pages a buyer or a vendor opens (sandbox checkout, simulator), in the language the bot speaks."""

from __future__ import annotations

from typing import Any

from locales import DEFAULT, normalise

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "unknown_title": "Lien inconnu", "expired_title": "Lien expiré", "expired": "Ce lien a expiré",
        "expired_body": "La réservation est terminée.", "payment": "Paiement", "done": "Paiement déjà traité",
        "status": "Statut : {status}", "sandbox_title": "Paiement sandbox",
        "sandbox_note": "Palabre sandbox — aucun argent réel", "method": "Moyen : {method}", "pay": "Payer",
        "refuse": "Refuser", "paid_title": "Paiement reçu", "paid": "✅ Paiement reçu",
        "failed_title": "Paiement refusé", "back": "Retournez dans la conversation.", "thanks": "Merci",
        "return_body": "Retournez dans la conversation : la confirmation de votre paiement y arrive dès que le "
                       "prestataire nous l'a confirmée.",
        "simulator": "simulateur", "your_number": "Votre numéro", "type_here": "Tapez un message, ex. {code}",
        "send": "Envoyer",
    },
    "en": {
        "unknown_title": "Unknown link", "expired_title": "Link expired", "expired": "This link has expired",
        "expired_body": "The reservation is over.", "payment": "Payment", "done": "Payment already processed",
        "status": "Status: {status}", "sandbox_title": "Sandbox payment",
        "sandbox_note": "Palabre sandbox — no real money", "method": "Method: {method}", "pay": "Pay",
        "refuse": "Decline", "paid_title": "Payment received", "paid": "✅ Payment received",
        "failed_title": "Payment declined", "back": "Go back to the conversation.", "thanks": "Thank you",
        "return_body": "Go back to the conversation: the confirmation of your payment arrives there as soon as "
                       "the provider has confirmed it to us.",
        "simulator": "simulator", "your_number": "Your number", "type_here": "Type a message, e.g. {code}",
        "send": "Send",
    },
}


def texts(locale: str | None) -> dict[str, str]:
    """The page words of a locale ('fr' when unknown)."""
    return TEXTS.get(normalise(locale or DEFAULT), TEXTS[DEFAULT])


def vendor_locale(vendors: dict[str, Any], vendor_id: str | None) -> str:
    vendor = vendors.get(vendor_id or "")
    return normalise(vendor.config.locale) if vendor is not None else DEFAULT
