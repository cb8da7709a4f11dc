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
    # a typed [DEVIS] ("je veux un devis", "un devis pour 20 CIM50"): the b2b dialog's `quote` trigger
    "quote",
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

# Typed words for a dialog's button that no intent covers, and the intent a dialog without that button
# reads instead (the runner-up in the ranking): "je veux un devis" is b2b's [DEVIS], else a price question.
DIALOG_WORDS: dict[str, str] = {"quote": "product_info"}

# Decided by an entity (a catalogue product, a payment method) rather than, or as well as, by words.
ENTITY_INTENTS: dict[str, str] = {"buy": "product", "payment": "payment_method"}

# When both fire, the rules do not decide ("merci pour le sac", "non ROBE1", "merci pour la livraison"):
# the classifier reads the whole message.
RULE_CONFLICTS: dict[str, frozenset[str]] = {
    # "vous vendez des chaussures ?" asks whether a kind of product is sold (product_info), it buys nothing
    "buy": frozenset({"thanks", "deny", "goodbye", "menu"}),
    # "je veux payer ma commande" pays (NLU-LABELS.md), "où est ma commande payée ?" asks where it is
    "order_status": frozenset({"thanks", "payment"}),
    # "merci pour l'aide", "merci pour l'accueil": thanks, not a plea for help or the catalogue
    "help": frozenset({"thanks"}),
    "menu": frozenset({"thanks"}),
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
    # English words for what West-African shops sell, read as the French word of a catalogue name: "the leather
    # bag" names "Sac en cuir" (an English-writing buyer of a French catalogue).
    name_translations: dict[str, str] = field(default_factory=dict)
    # Words between a quantity and its product: "2 paires de sandales", "2 of PARFUM4".
    quantity_units: tuple[str, ...] = ()
    # What a quantity counts when no product is named ("je veux 3 places" about the event just priced).
    counted_things: tuple[str, ...] = ()
    # A purchase phrase ending the message with a number and nothing else ("je prends 2", "mettez m'en 3"): the
    # quantity of the product the conversation is about (a new quantity for the one reserved).
    taking_phrases: tuple[str, ...] = ()
    # Asking whether something is there ("vous avez la robe en rouge", "il reste des sandales en 40"): with no
    # purchase or taking word, a question about the product (NLU-LABELS.md: availability, size, colour).
    availability_phrases: tuple[str, ...] = ()


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
            "bayyi", "bëggatul", "never mind", "nevermind", "leave this form", "leave the form", "exit the form",
            "quitter le formulaire", "sortir du formulaire", "reset", "abort", "on arrête", "efface tout",
            # "oublie" alone is also "oublié" once accents are folded ("j'ai oublié mon mot de passe")
            "oubliez", "oublie ça", "oublie tout", "oublie ce que j'ai dit", "changé d'avis", "change d'avis",
            "changed my mind", "drop it",
            "scrap that", "je renonce", "arrête", "arrêtez", "arrêter", "stoppez", "call it off",
        ),
        # A quote request is a dialog word (the [DEVIS] button's payload), not one of INTENTS: decided by
        # the rules when it is the whole message, else only a feature (the classifier reads product_info).
        "quote": ("devis", "un devis", "le devis", "proforma", "pro forma", "facture proforma", "a quote"),
        # Typed order words (the [COMMANDER] button, "je commande"); "ma commande" stays order_status.
        "buy": (
            "commander", "je commande", "on commande", "passer commande", "passer une commande", "acheter",
            "j'achète", "je prends", "je le prends", "je la prends", "je les prends", "une commande",
            "nouvelle commande", "valider la commande", "valider mon panier", "buy", "purchase",
            "place an order", "i want to order", "i'd like to order", "checkout", "jënd", "jënde", "jëndal",
        ),
        "appointment": (
            "rendez-vous", "rendez vous", "rdv", "rv", "créneau", "créneaux", "appointment", "appointments",
            "booking", "reservation", "réservation", "book a table", "a table for", "une table pour",
            "opening hours", "horaires", "heures d'ouverture", "ouvert", "ouverts", "ouverte", "vous ouvrez",
            "vous fermez", "essayage", "fitting", "visit the store", "passer à la boutique", "ubbi",
        ),
        "complaint": (
            "réclamation", "reclamation", "plainte", "porter plainte", "remboursement", "remboursez",
            "rembourser", "remboursé", "remboursée", "arnaque", "escroquerie", "complaint", "complain", "claim",
            "refund", "money back", "delloo ma sama xaalis", "delloo sama xaalis",
            # damage, a wrong item, disappointment (CV errors of round 3: these words were missing)
            "déçu", "déçue", "décevant", "décevante", "déception", "disappointed", "disappointing", "abîmé",
            "abîmée", "cassé", "cassée", "déchiré", "déchirée", "damaged", "broken", "defective", "défectueux",
            "défectueuse", "mécontent", "mécontente", "inacceptable", "unacceptable", "inadmissible", "scam",
            "scammed", "arnaqueurs", "voleurs", "thieves", "wrong item", "wrong size", "mauvaise taille",
            "mauvaise couleur", "honteux", "dama mer", "incomplete", "incomplète", "incomplet", "il manque",
            "missing",
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
            "gérant", "gérante", "propriétaire", "owner", "seller", "staff member", "customer service", "customer care",
            "nit ku dëgg",
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
            "parcel", "package", "my package", "my parcel", "shipping", "shipped", "expédié", "expédiée",
            "expédition", "courier", "tracking number", "numéro de suivi", "delivery", "agsi",
        ),
        "payment": (
            "payer", "payé", "paye", "paie", "paiement", "payement", "régler", "règlement", "pay", "payment",
            # Wolof "fey" (pay); a bill is paid here (NLU-LABELS.md: payment)
            "fey", "facture", "factures", "faktiir", "faktiiru", "bill", "invoice", "acompte", "paypal",
            "mobile money", "cash", "espèces", "paid", "declined", "payer à la livraison", "paiement à la livraison",
            "pay on delivery", "cash on delivery",
        ),
        "affirm": (
            "oui", "ouais", "ouai", "wi", "ok", "okay", "oki", "okey", "d'accord", "dac", "dak",
            "waaw", "waw", "wao", "yes", "yep", "yeah", "👍", "✅", "👌", "c bon", "c'est bon", "cbon",
            "vas-y", "go", "parfait", "exactement", "je confirme", "confirmé", "validé", "bien sûr",
            "ça marche", "entendu", "baax na", "sure", "absolutely", "of course",
            "valider", "je valide", "confirmer", "confirm", "je confirme la commande", "je confirme ma commande",
            "confirmer la commande",
            "voilà", "super", "exact", "exactement", "d'acc", "nickel", "confirmed", "i confirm", "all good",
            "dëgg la", "partant", "partante", "correct", "c'est ça", "that's right", "sounds good", "dacc",
            "tout à fait", "perfect", "great", "ça me convient", "ça me va", "that works", "sounds great",
            # done choosing, go on ("yes that's it" in NLU-LABELS.md): the offer's next step
            "c'est tout", "c tout", "cest tout", "ce sera tout", "ça sera tout", "rien d'autre", "that's all",
            "that's it", "nothing else",
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
            "greetings", "good day", "what's up", "whats up", "wassup", "morning", "jamm", "bnjr", "bonjoir",
            "salamaleykum", "salamou aleykoum", "assalamu alaikum", "nanga fanaane", "nanga yendoo",
        ),
        "goodbye": (
            "au revoir", "aurevoir", "bye", "bye bye", "goodbye", "à+", "@+", "ciao", "tchao", "ba beneen",
            "ba benen", "ba suba", "ba ci kanam", "mangi dem", "à bientôt", "à demain", "à la prochaine",
            "bonne nuit", "bonne journée", "bonne soirée", "see you",
            "a tt", "a tte", "à toute", "take care", "je file", "good night", "night night", "cya", "gotta go",
            "i have to go", "talk to you later", "talk to you tomorrow", "ba ëllëg", "ba suba", "bonne fin de journée",
            "bonne continuation", "à la semaine prochaine", "have a good one",
            "à tout à l'heure", "je vais y aller", "je vous quitte", "je vous laisse", "have a good day",
            "have a nice day",
        ),
    },
    intent_patterns={
        # A message made only of question marks is a plea for help.
        "help": (r"^\?+(?: \?+)*$",),
        # "à plus" is goodbye, but "il n'y a plus de stock" / "y a plus" is not.
        "goodbye": (r"(?<!y )(?<!y')(?<!\w)a plus+(?!\w)",),
        # a need counted in things the shop sells ("il me faut 200 sacs" after the cement's price), not "I need help"
        "buy": (r"(?<!\w)(?:il (?:me|m'en|nous) faut|j'ai besoin de|i need|we need|dama soxla) \d+(?!\w)",),
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
        # Wolof, also with the "-i" that joins a number to its noun ("ñaari place", "ñetti bracelet")
        "benn": 1, "ñaar": 2, "ñett": 3, "ñeent": 4, "juróom": 5, "fukk": 10,
        "ñaari": 2, "ñetti": 3, "ñeenti": 4, "juróomi": 5,
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
    name_translations={
        "bag": "sac", "handbag": "sac", "leather": "cuir", "dress": "robe", "shoe": "chaussure",
        "sandal": "sandale", "sneaker": "basket", "scarf": "foulard", "silk": "soie",
        "perfume": "parfum", "earring": "boucle", "pearl": "perle", "necklace": "collier", "ring": "bague",
        "shirt": "chemise", "skirt": "jupe", "trousers": "pantalon", "pants": "pantalon", "jacket": "veste",
        "belt": "ceinture", "wallet": "portefeuille", "glasses": "lunettes", "cap": "casquette", "hat": "chapeau",
        "fabric": "tissu", "cloth": "tissu", "woven": "tissé", "embroidered": "brodé", "braided": "tressé",
        "braids": "tresses", "rice": "riz", "oil": "huile", "peanut": "arachide", "sugar": "sucre", "milk": "lait",
        "powder": "poudre", "bread": "pain", "soap": "savon", "water": "eau", "ticket": "billet", "cement": "ciment",
        "iron": "fer", "sheet": "tôle", "phone": "téléphone", "haircut": "coupe",
    },
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
        # containers a grocery is asked for by ("2 sacs de riz", "3 paquets de sucre"); not weights or volumes:
        # "5 kg de riz" is not five of the 5 kg bag
        "sac de", "sacs de", "sachet de", "sachets de", "paquet de", "paquets de", "bouteille de", "bouteilles de",
        "bouteille d'", "bouteilles d'", "boîte de", "boîtes de", "boite de", "boites de", "carton de",
        "cartons de", "bidon de", "bidons de", "pot de", "pots de", "flacon de", "flacons de", "bags of",
        "packs of", "packets of", "bottles of", "boxes of", "cartons of", "cans of", "tins of",
    ),
    counted_things=(
        "place", "places", "billet", "billets", "ticket", "tickets", "entrée", "entrées", "seat", "seats",
        # containers and pieces, the product being the one the conversation is on ("il me faut 200 sacs")
        "sac", "sacs", "sachet", "sachets", "paquet", "paquets", "bouteille", "bouteilles", "carton", "cartons",
        "bidon", "bidons", "boîte", "boîtes", "pièce", "pièces", "unité", "unités", "bags", "boxes", "pieces", "units",
    ),
    taking_phrases=(
        "je prends", "je prend", "jprends", "jprend", "j'en prends", "j'en prend", "jen prends", "j'en veux",
        "jen veux", "j'en voudrais", "je veux", "jveux", "jveu", "je voudrais", "mettez moi", "mettez-moi",
        "mettez m'en", "mets moi", "met moi", "mets m'en", "donnez moi", "donnez-moi", "donnez m'en", "donne moi",
        "il m'en faut", "il nous en faut", "j'en ai besoin de", "i'll take", "i will take", "i want", "give me",
        "dama bëgg", "dama begg", "jox ma",
    ),
    availability_phrases=(
        "vous avez", "vs avez", "vous avé", "vs avé", "avez vous", "avez-vous", "vous auriez", "vs auriez",
        "auriez vous", "il y a", "y a t il", "y a-t-il", "ya t il", "y'a", "ya", "y a", "existe", "existent",
        "exist", "dispo", "disponible", "disponibles", "en stock", "il reste",
        "il en reste", "reste t il", "do you have", "have you got", "is there", "are there", "available",
        "in stock", "any left", "am ngeen", "ndax am nga", "am nga",
    ),
)

# Buyers mix French, English and Wolof whatever the vendor's language, so every locale uses the
# one mixed lexicon until a locale needs words of its own.
LEXICONS: dict[str, Lexicon] = {"fr": FRENCH, "en": FRENCH}
