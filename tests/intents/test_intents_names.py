"""Products named instead of coded: fuzzy names, ambiguity, typos, quantities, vendor synonyms."""

import pytest

from intents import CatalogueItem, NluParser

CATALOGUE = [
    CatalogueItem("ROBE1", "Robe Wax Ankara"),
    CatalogueItem("ROBE2", "Robe rouge longue"),
    CatalogueItem("SAC2", "Sac en cuir"),
    CatalogueItem("CHAUSSURE1", "Sandales tressées"),
    CatalogueItem("BOUBOU3", "Grand boubou brodé"),
    CatalogueItem("FOULARD1", "Foulard en soie"),
    CatalogueItem("MONTRE2", "Montre dorée"),
    CatalogueItem("TSHIRT3", "T-shirt Teranga"),
]


@pytest.fixture(scope="module")
def parser() -> NluParser:
    return NluParser(CATALOGUE, classifier=False)


def named(parser: NluParser, text: str) -> list[str]:
    return [e["value"] for e in parser.parse(text)["entities"] if e["entity"] == "product"]


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("la robe rouge", ["ROBE2"]),
        ("robe wax", ["ROBE1"]),
        ("Robe Wax Ankara", ["ROBE1"]),
        ("c combien le boubou", ["BOUBOU3"]),
        ("les sandales", ["CHAUSSURE1"]),
        ("les chaussures", ["CHAUSSURE1"]),  # the letters of the code name the product too
        ("le tshirt", ["TSHIRT3"]),
        ("la montre dorée", ["MONTRE2"]),
        ("la robe wax et le sac en cuir", ["ROBE1", "SAC2"]),
        ("ROBE1 la robe wax", ["ROBE1"]),  # one product named twice is one entity
        ("dama bëgg robe wax ak sac bi", ["ROBE1", "SAC2"]),  # after "robe", "wax" is the fabric
    ],
)
def test_names_resolve_to_codes(parser: NluParser, text: str, codes: list[str]) -> None:
    assert named(parser, text) == codes


@pytest.mark.parametrize(
    ("text", "code"),
    [("sandal tresee", "CHAUSSURE1"), ("le foullard en soi", "FOULARD1"), ("la monttre", "MONTRE2")],
)
def test_typos_still_match(parser: NluParser, text: str, code: str) -> None:
    assert named(parser, text) == [code]


@pytest.mark.parametrize(
    "text",
    [
        "la robe",  # two robes: ambiguous
        "un grand merci",  # "grand" alone names nothing
        "en rouge ?",  # a colour alone names nothing
        "montre moi le catalogue",  # a verb before a pronoun is not the watch
        "montrez le catalogue",  # a verb ending is not a typo
        "wax ma njëg gi",  # Wolof: "tell me the price", not the wax dress
        "mangi bëgg wax ak kenn ci yeen",  # Wolof: "I want to speak with one of you"
        "bonjour",
    ],
)
def test_no_product_when_the_name_is_not_clear(parser: NluParser, text: str) -> None:
    assert named(parser, text) == []


def test_with_one_robe_the_robe_is_that_one() -> None:
    parser = NluParser([CatalogueItem("ROBE1", "Robe Wax Ankara"), CatalogueItem("SAC2", "Sac en cuir")],
                       classifier=False)

    (product,) = [e for e in parser.parse("la robe")["entities"] if e["entity"] == "product"]
    assert product["value"] == "ROBE1"
    assert 0.5 < product["confidence"] < 1.0


def test_a_weak_word_gives_way_to_a_clearly_named_product(parser: NluParser) -> None:
    # "cuir" alone would be the leather bag, but here it describes the sandals
    assert named(parser, "les sandales tressées c'est du cuir ?") == ["CHAUSSURE1"]


def test_name_offsets_cover_the_name(parser: NluParser) -> None:
    text = "Bjr, la Robe Rouge svp"
    (product,) = [e for e in parser.parse(text)["entities"] if e["entity"] == "product"]

    assert text[product["start"] : product["end"]] == "Robe Rouge"


@pytest.mark.parametrize(
    ("text", "quantity"),
    [("2 foulards en soie", 2), ("3 paires de sandales", 3), ("une robe wax", 1), ("robe wax x4", 4),
     ("I'll take 2 of ROBE1", 2), ("ñaar boubou", 2)],
)
def test_quantities_next_to_names(parser: NluParser, text: str, quantity: int) -> None:
    result = parser.parse(text)
    assert [e["value"] for e in result["entities"] if e["entity"] == "quantity"] == [quantity]


def test_two_hundred_products_names_still_resolve() -> None:
    from intents.bench import catalogue_of

    parser = NluParser(catalogue_of(200), classifier=False)

    assert named(parser, "le foulard en soie") == ["FOULARD1"]
    assert named(parser, "le pagne tissé manjak") == ["PAGNE5"]
    assert named(parser, "le pagne") == []  # many pagnes


@pytest.mark.parametrize(("text", "codes"), [
    ("how much is the leather bag?", ["SAC2"]),
    ("I want the silk scarf", ["FOULARD1"]),
    ("do you have the embroidered boubou", ["BOUBOU3"]),
    ("the sandals please", ["CHAUSSURE1"]),
    ("can I order the dress", []),  # two dresses: neither, as "la robe" names neither
    ("I watch your live every day", []),  # "watch" is left out of the table: a verb as often as a thing
])
def test_an_english_buyer_names_a_french_catalogue_item(parser: NluParser, text: str, codes: list[str]) -> None:
    # "the leather bag" matched nothing in "Sac en cuir": an English-writing buyer could only type codes
    assert named(parser, text) == codes


def test_an_english_buyer_names_a_service() -> None:
    # "a haircut" named nothing in the salon's "Coupe homme": the buyer got the opening hours instead of slots
    parser = NluParser([CatalogueItem("COUPE", "Coupe homme"), CatalogueItem("TRESSES", "Tresses")], classifier=False)

    assert named(parser, "can I book a haircut tomorrow at 3pm?") == ["COUPE"]
    assert named(parser, "how much for braids") == ["TRESSES"]


def test_wolof_speak_with_someone_is_no_dress_to_buy() -> None:
    """Wolof "wax ak" (speak with) was the wax dress: the buyer asking for a person got the dress reserved."""
    parser = NluParser([CatalogueItem("ROBE1", "Robe Wax Ankara"), CatalogueItem("SAC2", "Sac en cuir")])

    result = parser.parse("mangi bëgg wax ak kenn ci yeen")

    assert result["intent"]["name"] == "human"
    assert result["entities"] == []
