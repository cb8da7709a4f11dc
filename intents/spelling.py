"""Informal spellings folded to one form for the classifier's word features ("jveu" and "je veux" alike)."""

from __future__ import annotations

# SMS French, English chat shorthand and common Wolof spelling variants, as buyers type them. Only the
# word features read these (character n-grams still see the text as typed), so a wrong guess costs little.
SPELLINGS: dict[str, str] = {
    # French SMS
    "jveu": "je veux", "jveux": "je veux", "jve": "je veux", "veu": "veux", "vx": "veux", "voudrai": "voudrais",
    "jvoudrais": "je voudrais", "jpeux": "je peux", "jpe": "je peux", "peu": "peux", "jsuis": "je suis",
    "chui": "je suis", "jsui": "je suis", "jai": "j ai", "g": "j ai", "jsp": "je sais pas", "jcomprend": "je comprends",
    "comprend": "comprends", "cmt": "comment", "kom": "comment", "komen": "comment", "comen": "comment",
    "koi": "quoi", "kwa": "quoi", "qoi": "quoi", "pk": "pourquoi", "pq": "pourquoi", "pkoi": "pourquoi",
    "qd": "quand", "qnd": "quand", "kan": "quand", "kand": "quand", "tjr": "toujours", "tjrs": "toujours",
    "tjs": "toujours", "rdv": "rendez vous", "rdvs": "rendez vous", "cmd": "commande", "cmde": "commande",
    "commende": "commande", "comande": "commande", "ns": "nous", "vs": "vous", "vou": "vous", "dc": "donc",
    "bcp": "beaucoup", "bcq": "beaucoup", "pr": "pour", "ds": "dans", "mm": "meme", "pa": "pas",
    "pb": "probleme", "prb": "probleme", "pblm": "probleme", "pbm": "probleme", "msg": "message",
    "tel": "telephone", "tlf": "telephone", "num": "numero", "mnt": "maintenant", "mtn": "maintenant",
    "auj": "aujourd hui", "ajd": "aujourd hui", "dmain": "demain", "dm1": "demain", "stp": "svp",
    "slp": "svp", "svpl": "svp", "c": "c est", "ct": "c etait", "yen": "il y en",
    "ke": "que", "ki": "qui", "kel": "quel", "kelle": "quelle", "oki": "ok", "okk": "ok",
    "mrc": "merci", "mci": "merci", "mercii": "merci", "slt": "salut", "bjr": "bonjour", "bsr": "bonsoir",
    "cc": "coucou", "livrer": "livraison", "livre": "livraison", "rembourser": "remboursement",
    "rembourse": "remboursement", "annuler": "annule", "annulez": "annule",
    # English chat
    "u": "you", "ur": "your", "r": "are", "pls": "please", "plz": "please", "plse": "please", "wanna": "want to",
    "gonna": "going to", "gotta": "have to", "dont": "do not", "don't": "do not", "cant": "can not",
    "can't": "can not", "wont": "will not", "im": "i am", "i'm": "i am", "thx": "thanks", "ty": "thanks",
    "tks": "thanks", "ya": "you", "cuz": "because", "coz": "because", "asap": "now",
    # Wolof spellings (the same word written with or without its diacritics and doubled letters)
    "beug": "begg", "beg": "begg", "bug": "begg", "bugg": "begg", "damay": "dama",
    "jeund": "jend", "jenn": "jend", "fayy": "fey", "jerrejef": "jerejef",
    "waw": "waaw", "wau": "waaw", "dedet": "deedeet", "deedet": "deedeet",
    "xaliss": "xaalis", "xalis": "xaalis", "nitt": "nit", "faktiir": "facture", "faktiiru": "facture",
    "faktir": "facture", "kont": "compte", "feye": "fey", "fay": "fey",
}
