"""Word lists per intent, payment method and quantity word, keyed by language."""

from __future__ import annotations

from dataclasses import dataclass, field

# Every intent the parser can return (besides a button payload, returned as is). `greet` is what the
# issue calls "greeting": the dialogs use `greet`, and eval files may say either (INTENT_ALIASES).
INTENTS: tuple[str, ...] = (
    "greet", "goodbye", "affirm", "deny", "product_info", "buy", "order_status", "payment", "complaint",
    "appointment", "human", "menu", "help", "cancel", "thanks", "out_of_scope",
)
INTENT_ALIASES: dict[str, str] = {"greeting": "greet", "nlu_fallback": "out_of_scope"}

# The rule layer, highest priority first: when a message is fully explained by rules, the first intent
# that matches wins and the rest follow it in the ranking. product_info has no rules, and appointment and
# complaint only their unambiguous words (a slot, a refund, a claim): they are left to the classifier.
INTENT_PRIORITY: tuple[str, ...] = (
    # "annuler mon rdv" moves a slot (NLU-LABELS.md: appointment), it does not stop the conversation
    "appointment",
    "cancel",
    # "aidez-moi à faire une réclamation" is the complaint, not a plea for help
    "complaint",
    "buy",
    "human",
    "help",
    "menu",
    "order_status",
    "payment",
    "goodbye",
    "deny",
    # "ok merci" thanks (NLU-LABELS.md): thanks outranks the agreement it follows
    "thanks",
    "affirm",
    "greet",
)

# Decided by an entity (a catalogue product, a payment method) rather than, or as well as, by words.
ENTITY_INTENTS: dict[str, str] = {"buy": "product", "payment": "payment_method"}

# When both fire, the rules do not decide ("merci pour le sac", "non ROBE1", "merci pour la livraison"):
# the classifier reads the whole message.
RULE_CONFLICTS: dict[str, frozenset[str]] = {
    "buy": frozenset({"thanks", "deny", "goodbye"}),
    "order_status": frozenset({"thanks"}),
}

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
    # Words that carry no intent of their own ("svp", "je veux", "madame"): a message made only of
    # these plus rule matches and entities is decided by the rules, anything else goes to the classifier.
    fillers: frozenset[str] = frozenset()
    # Words that never match a product name on their own (function words), and words that may help a
    # product name match but are not enough alone ("grand", "rouge").
    name_stopwords: frozenset[str] = frozenset()
    name_generic: frozenset[str] = frozenset()
    # Words between a quantity and its product: "2 paires de sandales", "2 of PARFUM4".
    quantity_units: tuple[str, ...] = ()


def _words(*lines: str) -> frozenset[str]:
    return frozenset(word for line in lines for word in line.split())


# French as typed in Senegal, Côte d'Ivoire, Mali...: SMS spellings, plus the Wolof and English words
# that turn up in the same messages.
FRENCH = Lexicon(
    intent_phrases={
        "cancel": (
            "annuler", "annule", "annulez", "annulation", "cancel", "stop",
            "laisse tomber", "laissez tomber", "bayyi ko", "bayil ko", "forget it",
            # leaving a form or starting over (NLU-LABELS.md: cancel)
            "recommencer", "recommence", "on recommence", "repartir de zéro", "retour au début", "sortir",
            "quitter", "quitte", "exit", "quit", "start over", "restart", "dakkal", "dakkal ko", "bàyyi",
            "bayyi", "bëggatul", "never mind", "nevermind",
        ),
        "appointment": (
            "rendez-vous", "rendez vous", "rdv", "rv", "créneau", "créneaux", "appointment", "appointments",
            "booking", "reservation", "réservation", "book a table", "a table for", "une table pour",
        ),
        "complaint": (
            "réclamation", "reclamation", "plainte", "porter plainte", "remboursement", "remboursez",
            "rembourser", "remboursé", "remboursée", "arnaque", "escroquerie", "complaint", "complain", "claim",
            "refund", "money back", "delloo ma sama xaalis", "delloo sama xaalis",
        ),
        "human": (
            "humain", "agent", "conseiller", "conseillère", "parler à quelqu'un", "vendeur", "vendeuse",
            "une personne", "une vraie personne", "service client", "human", "real person",
            "speak to someone", "talk to someone", "wax ak nit",
            # the seller's number or a call (NLU-LABELS.md: human)
            "votre numéro", "ton numéro", "vos numéros", "numéro de la boutique", "numéro du vendeur",
            "sa numéro", "sa nimero", "your number", "phone number", "appelez moi", "appelle moi",
            "rappelez moi", "rappelle moi", "call me", "woo ma", "woowal ma", "live agent", "representative",
            "operator", "opérateur", "responsable", "manager", "boroom bi",
        ),
        "help": (
            "aide", "aider", "aidez", "help", "comment ça marche", "cmt ça marche", "comment ça fonctionne",
            "comprends pas", "comprends rien", "ndimbal", "mode d'emploi", "how does it work",
            "xamuma", "dégguma", "je bloque", "bloqué", "bloquée", "perdu", "perdue", "confused", "i'm lost",
            "dimbali ma", "dimbalil ma", "what can you do", "que peux-tu faire", "tu sers à quoi",
        ),
        "menu": (
            "menu", "catalogue", "catalog", "produits", "qu'est-ce que vous vendez", "vous vendez",
            "vs vendez", "vous avez quoi", "vos articles", "les articles", "products", "what do you sell",
            "nouveautés", "collection", "qu'avez-vous", "ce que vous avez", "lan ngeen am", "lan ngay jaay",
            "li ngeen am", "what do you have", "what have you got", "accueil", "catalog", "showroom",
        ),
        "order_status": (
            "ma commande", "commande", "commandes", "statut", "status", "livraison", "où est", "suivi",
            "colis", "livreur", "my order", "tracking",
        ),
        "payment": (
            "payer", "payé", "paye", "paie", "paiement", "payement", "régler", "règlement", "pay", "payment",
        ),
        "affirm": (
            "oui", "ouais", "ouai", "wi", "ok", "okay", "oki", "okey", "d'accord", "dac", "dak",
            "waaw", "waw", "wao", "yes", "yep", "yeah", "👍", "✅", "👌", "c bon", "c'est bon", "cbon",
            "vas-y", "go", "parfait", "exactement", "je confirme", "confirmé", "validé", "bien sûr",
            "ça marche", "entendu", "baax na", "sure", "absolutely", "of course",
            "voilà", "super", "exact", "exactement", "d'acc", "nickel", "confirmed", "i confirm", "all good",
            "dëgg la", "partant", "partante", "correct", "c'est ça", "that's right", "sounds good", "dacc",
        ),
        "deny": (
            "non", "nan", "nn", "no", "nope", "déedéet", "deedet", "dedeet", "déet", "pas maintenant",
            "pas pour le moment", "pas pour l'instant", "pas intéressé", "pas intéressée", "pas besoin",
            "pas du tout", "jamais", "bëgguma", "bëggul", "not now", "no way", "pas d'accord", "pas ok",
            "not ok", "disagree", "👎", "❌",
            "nah", "négatif", "negative", "c'est faux", "faux", "wrong", "incorrect", "du loolu", "du dëgg",
            "not really", "pas vraiment",
        ),
        "thanks": (
            "merci", "mrc", "mci", "jërëjëf", "jerejef", "jere jef", "thanks", "thank you", "thank u", "thx",
            "cheers", "🙏",
            "jaajëf", "dieuredieuf", "dieureudieuf", "diarama", "tnx", "thnx", "thank", "appreciated",
            "que dieu vous bénisse",
        ),
        "greet": (
            "bonjour", "bjr", "bonsoir", "bsr", "salut", "slt", "hello", "hi", "hey", "salam", "salaam",
            "salam aleykoum", "salamaleykoum", "salamalekoum", "assalamou aleykoum", "asalamou alaykoum",
            "nanga def", "na nga def", "naka nga def", "jamm nga fanaan", "coucou", "cc", "cv", "ça va",
            "good morning", "good evening", "good afternoon",
            "wesh", "slm", "yo", "hiya", "naka suba si", "naka ngoon si", "naka ngon si", "asalaa maalekum",
            "salaamaalekum", "maalekum salaam", "how are you", "how are things", "rebonjour",
        ),
        "goodbye": (
            "au revoir", "aurevoir", "bye", "bye bye", "goodbye", "à+", "@+", "ciao", "tchao", "ba beneen",
            "ba benen", "ba suba", "ba ci kanam", "mangi dem", "à bientôt", "à demain", "à la prochaine",
            "bonne nuit", "bonne journée", "bonne soirée", "see you",
            "a tt", "a tte", "à toute", "take care", "je file", "good night", "night night", "cya", "gotta go",
            "i have to go", "talk to you later", "talk to you tomorrow", "ba ëllëg", "ba suba", "bonne fin de journée",
            "bonne continuation", "à la semaine prochaine", "have a good one",
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
        "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
        # Wolof
        "benn": 1, "ñaar": 2, "ñett": 3, "ñeent": 4, "juróom": 5,
    },
    fillers=_words(
        # French
        "svp stp sil s vous plait plais te je j jveu jveux jve veux voudrais voudrai veut moi me m ma mon",
        "mes la le les l un une de du des d et a pour ici bien tres trop beaucoup bcp frere soeur madame",
        "monsieur mr mme mlle boss chef patron patronne tata tonton c est ce ca sa oh ah eh hein bon alors",
        "donc encore aussi deja par avec sur en via prends prend jprend jprends donne donnez mets mettez",
        "garde gardez reserve reservez envoie envoyez prefere preferes plutot suis tout faire fais fait",
        # English
        "i my the an please pls plz for to it just so then sir madam maam dear bro sis by with on want take",
        "prefer rather you very much so a lot make file lodge",
        # Wolof
        "dama damay naa nga bi yi ji gi li ko ci kay rek rekk waay sama yaay xarit begg bugg lool bu baax bare doom",
    ),
    name_stopwords=_words(
        "de du des d en la le les l et a au aux pour avec sur un une ce cet cette ces mon ma mes ton ta",
        "son sa c est s t m j qu n y the of with and in for an my bi yi ji gi li gu bu ak",
    ),
    name_generic=_words(
        "grand grande petit petite gros grosse long longue court courte joli jolie beau belle bel nouveau",
        "nouvelle neuf neuve vrai vraie riche simple classique modele special speciale homme femme enfant",
        "fille garcon big small new short rouge bleu bleue blanc blanche noir noire vert verte jaune rose",
        "orange marron gris grise violet violette beige dore doree argent argente red blue white black",
        "green yellow pink",
    ),
    quantity_units=(
        "paire de", "paires de", "paire d'", "paires d'", "pièce", "pièces", "pcs", "pc", "exemplaire",
        "exemplaires", "unité", "unités", "pairs of", "pair of", "pieces of", "of",
    ),
)

# Buyers mix French, English and Wolof whatever the vendor's language, so every locale uses the
# one mixed lexicon until a locale needs words of its own.
LEXICONS: dict[str, Lexicon] = {"fr": FRENCH, "en": FRENCH}
