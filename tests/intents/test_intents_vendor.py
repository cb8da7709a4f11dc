"""A vendor's YAML `nlu` section: their own examples and product synonyms reach the vendor's parser."""

from pathlib import Path

import pytest

from bot import commerce
from bot.vendors import VendorLoader
from dialogs import Registry, YamlInvalid

DEMO = Path(__file__).resolve().parents[2] / "examples" / "vendors" / "demo.yaml"


def vendor_file(tmp_path: Path, nlu: str) -> Path:
    path = tmp_path / "shop.yaml"
    path.write_text(DEMO.read_text(encoding="utf-8") + "\n" + nlu, encoding="utf-8")
    return path


def load(path: Path):
    return VendorLoader(commerce.register(Registry())).load(path)


def test_demo_vendor_without_nlu_section() -> None:
    vendor = load(DEMO)

    assert vendor.nlu.parse("cmbien la robe")["intent"]["name"] == "product_info"


def test_vendor_synonyms_and_examples(tmp_path: Path) -> None:
    vendor = load(vendor_file(tmp_path, """nlu:
  synonyms:
    ROBE1: [la tenue de korité]
  examples:
    human: [je veux parler à tata Awa, passez moi tata Awa, "tata Awa est là ?"]
  threshold: 0.45
"""))

    result = vendor.nlu.parse("la tenue de korité svp")
    assert result["intent"]["name"] == "buy"
    assert [e["value"] for e in result["entities"] if e["entity"] == "product"] == ["ROBE1"]
    assert vendor.nlu.parse("tata Awa stp")["intent"]["name"] == "human"
    assert vendor.nlu.threshold == 0.45


@pytest.mark.parametrize(
    ("nlu", "message"),
    [
        ("nlu:\n  synonyms:\n    ROBE42: [robe du soir]\n", "nlu: synonyms name 'ROBE42'"),
        ("nlu:\n  examples:\n    shopping: [je veux]\n", "unknown intent 'shopping'"),
        ("nlu:\n  threshold: 2\n", "threshold"),
        ("nlu:\n  voice: true\n", "voice"),
    ],
)
def test_bad_nlu_sections_are_refused(tmp_path: Path, nlu: str, message: str) -> None:
    with pytest.raises(YamlInvalid) as error:
        load(vendor_file(tmp_path, nlu))

    assert message in str(error.value)
