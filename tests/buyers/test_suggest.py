"""The complementary product after a payment, as a table: bought together first, then a shared tag; never
the same product, one the buyer already has, or one out of stock."""

from __future__ import annotations

import pytest

from bot.buyers import rank
from channels import Contact
from storage import Order, Product

ME = "+221770000001"
STOCK = {"ROBE1": 3, "SAC2": 5, "CHAUSSURE1": 10, "FOULARD1": 20, "BOUBOU3": 0, "PAGNE4": 4}
TAGS = {"ROBE1": ["wax", "femme"], "SAC2": ["cuir"], "CHAUSSURE1": ["cuir"], "FOULARD1": ["femme"],
        "BOUBOU3": ["wax"], "PAGNE4": ["wax", "femme"]}


def bought(*baskets: tuple[str, str], status: str = "paid") -> list[Order]:
    """Orders from (buyer, product code) pairs."""
    return [Order(id=f"o{i}", vendor_id="demo", conversation_id=f"demo:web:{who}", contact=Contact(address=who),
                  channel="web", product_code=code, product_name=code, quantity=1, unit_price=1000, status=status,  # type: ignore[arg-type]
                  created_at=1_000_000.0 + i) for i, (who, code) in enumerate(baskets)]


def products(stock: dict[str, int] = STOCK) -> dict[str, Product]:
    return {code: Product(vendor_id="demo", code=code, name=code, price=1000, stock=n) for code, n in stock.items()}


A, B, C = "+221770000002", "+221770000003", "+221770000004"
# (orders of the vendor's buyers, product just paid by ME) -> (suggested code, reason, buyers who bought both)
CASES = [
    # two other buyers took SAC2 with ROBE1, one took CHAUSSURE1: SAC2, "2 buyers"
    (bought((A, "ROBE1"), (A, "SAC2"), (B, "ROBE1"), (B, "SAC2"), (C, "ROBE1"), (C, "CHAUSSURE1")),
     "ROBE1", ("SAC2", "bought_together", 2)),
    # a buyer counts once however many times they bought it
    (bought((A, "ROBE1"), (A, "CHAUSSURE1"), (A, "CHAUSSURE1"), (A, "CHAUSSURE1"), (B, "ROBE1"), (B, "SAC2"),
            (C, "ROBE1"), (C, "SAC2")), "ROBE1", ("SAC2", "bought_together", 2)),
    # the most bought-with is out of stock: the next one
    (bought((A, "ROBE1"), (A, "BOUBOU3"), (B, "ROBE1"), (B, "BOUBOU3"), (C, "ROBE1"), (C, "SAC2")),
     "ROBE1", ("SAC2", "bought_together", 1)),
    # what I already bought is not suggested again
    (bought((ME, "SAC2"), (A, "ROBE1"), (A, "SAC2"), (B, "ROBE1"), (B, "FOULARD1")),
     "ROBE1", ("FOULARD1", "bought_together", 1)),
    # unpaid orders say nothing about habits: no co-purchase, so the product sharing the most tags
    # (PAGNE4: wax and femme), before FOULARD1 (femme) that comes first in the catalogue
    (bought((A, "ROBE1"), (A, "SAC2"), status="expired"), "ROBE1", ("PAGNE4", "same_tag", 0)),
    ([], "SAC2", ("CHAUSSURE1", "same_tag", 0)),
    # a tie (ROBE1 and PAGNE4 share one tag each): catalogue order
    ([], "FOULARD1", ("ROBE1", "same_tag", 0)),
    # the first tag-mate in the catalogue, ROBE1 (BOUBOU3 itself is sold out but was just paid for)
    ([], "BOUBOU3", ("ROBE1", "same_tag", 0)),
]


@pytest.mark.parametrize(("orders", "paid", "expected"), CASES)
def test_complementary_product(orders: list[Order], paid: str, expected: tuple[str, str, int]) -> None:
    found = rank(paid, ME, [*orders, *bought((ME, paid))], products(), TAGS)
    assert found is not None
    assert (found.product.code, found.reason, found.buyers) == expected
    assert found.product.code != paid and found.product.stock > 0


def test_no_suggestion_when_nothing_fits() -> None:
    lonely = {"ROBE1": ["wax"], "SAC2": ["cuir"]}
    assert rank("ROBE1", ME, bought((ME, "ROBE1")), products({"ROBE1": 3, "SAC2": 5}), lonely) is None
    # the only co-purchase and the only tag-mate are both sold out
    sold_out = products({"ROBE1": 3, "SAC2": 0, "PAGNE4": 0})
    orders = bought((A, "ROBE1"), (A, "SAC2"), (ME, "ROBE1"))
    assert rank("ROBE1", ME, orders, sold_out, {"ROBE1": ["wax"], "PAGNE4": ["wax"]}) is None
