"""The dashboard page's words in the vendor's locale (fr, en); the page reads them from the HTML it is served."""

from __future__ import annotations

from locales import normalise

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Tableau de bord", "token": "Votre jeton d'accès (donné par palabre users add)",
        "login": "Se connecter", "logout": "Se déconnecter", "refused": "Jeton refusé.", "live": "en direct",
        "orders": "Commandes", "paid": "Payées", "in_progress": "En cours", "revenue": "Chiffre d'affaires",
        "conversion": "conversion", "expired": "expirées", "stock": "Stock", "chart": "Commandes par minute",
        "chart_note": "30 dernières minutes ; en vert les paiements", "payments": "Derniers paiements",
        "recent": "Dernières commandes", "none": "Rien pour l'instant.", "left": "reste {n}",
        "held": "{n} réservé(s)", "sold": "{n} vendu(s)", "low": "Stock bas", "sold_out": "Épuisé",
        "alert_low": "{name} : plus que {n} !", "alert_sold_out": "{name} : épuisé",
        "velocity": "Rythme des ventes", "pace": "{rate} cmd/min", "peak": "Pic de commandes !",
        "card": "Fiche client", "close": "Fermer", "score": "Score de confiance", "tier": "Niveau",
        "factors": "Ce qui a fait le score", "tags": "Étiquettes", "total_value": "Valeur totale",
        "history": "Historique", "orders_n": "{n} commande(s)", "payments_n": "{n} paiement(s)",
        "expired_n": "{n} expirée(s)", "avg_payment": "paie en {n} s en moyenne", "method": "moyen préféré : {m}",
        "no_access": "Votre rôle ne donne pas accès aux chiffres de ce vendeur.", "back_inbox": "← Boîte de réception",
        "tier_diamond": "diamant", "tier_gold": "or", "tier_silver": "argent", "tier_bronze": "bronze",
        "since": "depuis minuit", "buyer": "Client",
        "live_on": "🔴 En live depuis {time} : {orders} commande(s), {paid} payée(s), {revenue}",
        "live_off": "Pas de live en cours",
    },
    "en": {
        "title": "Dashboard", "token": "Your access token (printed by palabre users add)",
        "login": "Sign in", "logout": "Sign out", "refused": "Token refused.", "live": "live",
        "orders": "Orders", "paid": "Paid", "in_progress": "In progress", "revenue": "Revenue",
        "conversion": "conversion", "expired": "expired", "stock": "Stock", "chart": "Orders per minute",
        "chart_note": "last 30 minutes; payments in green", "payments": "Latest payments",
        "recent": "Latest orders", "none": "Nothing yet.", "left": "{n} left",
        "held": "{n} reserved", "sold": "{n} sold", "low": "Low stock", "sold_out": "Sold out",
        "alert_low": "{name}: only {n} left!", "alert_sold_out": "{name}: sold out",
        "velocity": "Sales pace", "pace": "{rate} orders/min", "peak": "Order peak!",
        "card": "Buyer card", "close": "Close", "score": "Trust score", "tier": "Tier",
        "factors": "What made the score", "tags": "Tags", "total_value": "Total value",
        "history": "History", "orders_n": "{n} order(s)", "payments_n": "{n} payment(s)",
        "expired_n": "{n} expired", "avg_payment": "pays in {n} s on average", "method": "preferred method: {m}",
        "no_access": "Your role gives no access to this vendor's figures.", "back_inbox": "← Inbox",
        "tier_diamond": "diamond", "tier_gold": "gold", "tier_silver": "silver", "tier_bronze": "bronze",
        "since": "since midnight", "buyer": "Buyer",
        "live_on": "🔴 Live since {time}: {orders} order(s), {paid} paid, {revenue}",
        "live_off": "No live on",
    },
}


def texts(locale: str | None) -> dict[str, str]:
    return TEXTS[normalise(locale)]
