"""Word lists per intent, payment method and quantity word, keyed by language."""

from __future__ import annotations

from dataclasses import dataclass, field

# Highest priority first: the first intent that matches wins, the rest follow it in the ranking.
INTENT_PRIORITY: tuple[str, ...] = (
    "buy",
    "cancel",
    "human",
    "help",
    "menu",
    "order_status",
    "payment",
    "affirm",
    "deny",
    "thanks",
    "greet",
    "goodbye",
)

# These two are decided by entities (a catalogue product, a payment method), not by words.
ENTITY_INTENTS: dict[str, str] = {"buy": "product", "payment": "payment_method"}

PAYMENT_METHODS: tuple[str, ...] = ("wave", "orange_money", "free_money", "card")


@dataclass(frozen=True)
class Lexicon:
    """Everything language-specific the rules need.

    Phrases are written naturally (accents, apostrophes) and normalised when compiled; patterns are raw
    regexes over normalised text, for the few entries that need context a word list cannot express.
    """

    intent_phrases: dict[str, tuple[str, ...]]
    intent_patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    payment_phrases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    number_words: dict[str, int] = field(default_factory=dict)


# French as typed in Senegal, Côte d'Ivoire, Mali...: SMS spellings, plus the Wolof and English words
# that turn up in the same messages.
FRENCH = Lexicon(
    intent_phrases={
        "cancel": (
            "annuler", "annule", "annulez", "annulation", "cancel", "stop",
            "laisse tomber", "laissez tomber",
        ),
        "human": (
            "humain", "agent", "conseiller", "conseillère", "parler à quelqu'un", "vendeur", "vendeuse",
            "une personne", "une vraie personne", "service client", "human",
        ),
        "help": (
            "aide", "aider", "aidez", "help", "comment ça marche", "cmt ça marche", "comment ça fonctionne",
            "comprends pas",
        ),
        "menu": (
            "menu", "catalogue", "catalog", "produits", "qu'est-ce que vous vendez", "vous vendez",
            "vs vendez", "vous avez quoi",
        ),
        "order_status": (
            "ma commande", "commande", "commandes", "statut", "status", "livraison", "où est", "suivi",
            "colis",
        ),
        "affirm": (
            "oui", "ouais", "ouai", "wi", "ok", "okay", "oki", "okey", "d'accord", "dac", "dak",
            "waaw", "waw", "wao", "yes", "yep", "yeah", "👍", "✅", "c bon", "c'est bon", "cbon",
            "vas-y", "go", "parfait",
        ),
        "deny": (
            "non", "nan", "no", "nope", "déedéet", "deedet", "dedeet", "pas maintenant",
            "pas pour le moment", "pas intéressé", "👎", "❌",
        ),
        "thanks": (
            "merci", "mrc", "mci", "jërëjëf", "jerejef", "jere jef", "thanks", "thank you", "thx", "🙏",
        ),
        "greet": (
            "bonjour", "bjr", "bonsoir", "bsr", "salut", "slt", "hello", "hi", "hey", "salam", "salaam",
            "salam aleykoum", "salamaleykoum", "salamalekoum", "assalamou aleykoum", "nanga def",
            "na nga def", "coucou", "cc",
        ),
        "goodbye": (
            "au revoir", "aurevoir", "bye", "bye bye", "à+", "@+", "ciao", "tchao", "ba beneen", "ba benen",
            "à bientôt", "à demain",
        ),
    },
    intent_patterns={
        # A message made only of question marks is a plea for help.
        "help": (r"^\?+(?: \?+)*$",),
        # "à plus" is goodbye, but "il n'y a plus de stock" / "y a plus" is not.
        "goodbye": (r"(?<!y )(?<!y')(?<!\w)a plus+(?!\w)",),
    },
    payment_phrases={
        "wave": ("wave",),
        "orange_money": ("orange money", "orangemoney", "om", "orange"),
        "free_money": ("free money", "freemoney", "free"),
        "card": ("carte", "carte bancaire", "card", "cb", "visa", "mastercard", "master card"),
    },
    number_words={
        "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5,
        "six": 6, "sept": 7, "huit": 8, "neuf": 9, "dix": 10,
        # Wolof
        "benn": 1, "ñaar": 2, "ñett": 3, "ñeent": 4, "juróom": 5,
    },
)

# Buyers mix French, English and Wolof whatever the vendor's language, so every locale uses the
# one mixed lexicon until a locale needs words of its own.
LEXICONS: dict[str, Lexicon] = {"fr": FRENCH, "en": FRENCH}
