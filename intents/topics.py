"""What a buyer asks about the shop itself rather than a product or an order: delivery, where it is, its hours.

The `topic` entity (`delivery` | `location` | `hours`) says what a question is about; the intent stays the
guide's (NLU-LABELS.md: delivery cost or delay is order_status, opening hours appointment), so the dialog
decides whether the vendor's own answer fits. Phrases are matched on normalised text (lower case, no accents).
Words about an order already on its way ("livré", "livreur") are not a topic: that is the order's status.
"""

from __future__ import annotations

import re

_TOPICS: dict[str, str] = {
    "delivery": r"livr(?:ez|er|ons|aison|aisons|eriez|ables?)|frais de (?:port|transport)|expedi(?:ez|er|tion)"
                r"|envoyez (?:a|au|en|sur|dans)|deliver(?:y|ies)?|shipping|do you ship"
                # paying on receipt is paying at delivery ("je paie à la réception", "can I pay when it arrives")
                r"|a (?:la )?reception|quand je (?:le |la |les )?(?:recois|recevrai)|(?:on|upon) (?:arrival|receipt)"
                r"|when (?:it|they) (?:arrives?|comes?)|when i (?:get|receive) (?:it|them)",
    "location": r"vous (?:etes|vous trouvez|vs trouvez) (?:ou|situee?s?|basee?s?|localisee?s?)"
                r"|vs etes (?:ou|situee?s?)|ou (?:etes[ -]vous|etes vs|vous trouver|se (?:trouve|situe)"
                r"|est (?:la|votre|ta) (?:boutique|magasin|shop|adresse))|c'?est (?:ou|a quelle adresse)"
                r"|(?:votre|ton|ta|l') ?(?:adresse|localisation)|adresse (?:de|du) (?:la |votre )?(?:boutique|magasin)"
                r"|where (?:are you(?! from)|is (?:the|your) (?:shop|store))|your (?:address|location)"
                r"|fan (?:ngeen|nga|la) (?:nekk|dekk|bokk)",
    "hours": r"horaires?|heures? d'ouverture|(?:vous|vs) (?:etes |serez )?(?:ouverts?|fermee?s?)|ouvrez|fermez"
             r"|ouvert (?:le|ce|aujourd'hui|demain|dimanche|samedi)|a quelle heure (?:vous|vs) (?:ouvr|ferm)"
             r"|opening (?:hours|times)|(?:are|r) (?:you|u) open|do you (?:open|close)|what time do you (?:open|close)"
             r"|open (?:on|today|tomorrow|sunday|saturday)",
}
_FINDER = re.compile("|".join(rf"\b(?P<{name}>{pattern})\b" for name, pattern in _TOPICS.items()))
TOPICS: tuple[str, ...] = tuple(_TOPICS)


def find_topics(text: str) -> list[tuple[int, int, str]]:
    """(start, end, topic) of each question about the shop in normalised text, each topic once."""
    found: dict[str, tuple[int, int, str]] = {}
    for match in _FINDER.finditer(text):
        topic = match.lastgroup or ""
        found.setdefault(topic, (match.start(), match.end(), topic))
    return sorted(found.values())
