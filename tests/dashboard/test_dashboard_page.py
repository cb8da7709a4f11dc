"""The /dashboard page in headless Chromium against a real `palabre run`: live figures during a sale, a phone
screen, and the buyer card opened from an order and from an inbox conversation."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.bot.test_simulator_page import _watch, chromium, palabre_server
from tests.inbox.test_inbox_page import _add_user

with contextlib.suppress(ImportError):  # chromium() fails the test with what to install
    from playwright.sync_api import Browser, Page, expect

BUYER = "+221770000031"
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 only, never via a proxy


def _post(url: str, body: dict[str, Any] | None = None, form: dict[str, str] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else urllib.parse.urlencode(form or {}).encode()
    kind = "application/json" if body is not None else "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, headers={"Content-Type": kind}, method="POST")
    with OPENER.open(request, timeout=15) as r:
        return json.loads(r.read())


def _say(url: str, text: str | None = None, payload: str | None = None, buyer: str = BUYER) -> dict[str, Any]:
    body: dict[str, Any] = {"from": buyer}
    if text:
        body["text"] = text
    if payload:
        body["payload"] = payload
    return _post(f"{url}/simulator/demo/messages", body)


def _sell_robe1(url: str, buyer: str = BUYER) -> None:
    """A buyer reserves ROBE1, picks Wave and pays on the sandbox checkout, all through the server."""
    _say(url, "ROBE1", buyer=buyer)
    _say(url, payload="pay", buyer=buyer)
    reply = _say(url, payload="wave", buyer=buyer)["replies"][0]["text"]
    link = re.search(r"https?://\S+", reply)
    assert link, reply
    assert _post(link.group(0), form={"outcome": "paid"})["status"] == "paid"


def _open(browser: Browser, url: str, token: str, problems: list[str], *, path: str = "/dashboard/demo",
          viewport: dict[str, int] | None = None) -> Page:
    page = browser.new_context(viewport=viewport or {"width": 1200, "height": 900}, locale="fr-FR").new_page()
    _watch(page, problems)
    page.goto(f"{url}{path}")
    page.fill("#token", token)
    page.click("#login button")
    return page


def _plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


def test_the_dashboard_shows_revenue_and_stock_change_live_during_a_sale(tmp_path: Path) -> None:
    token = _add_user(tmp_path / "data", "awa", "admin")
    with chromium() as browser, palabre_server(tmp_path) as url:
        problems: list[str] = []
        page = _open(browser, url, token, problems)
        expect(page.locator("#who")).to_have_text("awa · admin")
        expect(page.locator("#live")).to_have_class("on")
        robe = page.locator("#stock li[data-code=ROBE1]")
        expect(robe).to_contain_text("reste 3")
        assert _plain(page.locator("#k-revenue").inner_text()) == "0 F CFA"
        page.evaluate("window.stillTheSamePage = true")

        _sell_robe1(url)

        expect(page.locator("#k-paid")).to_have_text("1")
        expect(page.locator("#k-revenue")).to_have_text(re.compile(r"^15\s000\sF\sCFA$"))
        expect(robe).to_contain_text("reste 2")
        expect(robe).to_contain_text("1 vendu(s)")
        expect(page.locator("#alerts li")).to_contain_text(["Robe Wax Ankara : plus que 2 !"])
        expect(page.locator("#payments li")).to_have_count(1)
        expect(page.locator("#payments li")).to_contain_text("Robe Wax Ankara ×1")
        expect(robe.locator(".forecast")).to_contain_text("rupture dans ~2 commande(s)")
        assert page.evaluate("window.stillTheSamePage") is True  # no reload: the figures came over SSE
        assert int(page.locator("#chart rect.p").first.get_attribute("data-count") or 0) == 1

        # The buyer card from the payment: one fast payment, 50 + 5 + 10.
        page.locator("#payments li").first.click()
        card = page.locator("#card")
        expect(card).to_be_visible()
        expect(page.locator("#cardscore")).to_have_text("65")
        expect(page.locator("#cardtier")).to_have_text("bronze")
        expect(page.locator("#cardfactors li")).to_have_text(["+50 score de départ", "+5 1 paiement(s) réussi(s)",
                                                              re.compile(r"^\+10 paie en \d+ s en moyenne$")])
        expect(page.locator("#cardtotal")).to_have_text(re.compile(r"^15\s000\sF\sCFA$"))
        expect(page.locator("#cardhistory li")).to_have_count(1)
        expect(page.locator("#cardfacts")).to_contain_text(BUYER)  # an admin may read contacts
        page.click("#cardclose")
        expect(card).to_be_hidden()
        assert not problems, problems


def test_on_a_phone_the_dashboard_fits_the_screen(tmp_path: Path) -> None:
    token = _add_user(tmp_path / "data", "awa", "analyst")
    with chromium() as browser, palabre_server(tmp_path) as url:
        _sell_robe1(url)
        problems: list[str] = []
        page = _open(browser, url, token, problems, viewport={"width": 360, "height": 740})
        expect(page.locator("#k-paid")).to_have_text("1")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing scrolls sideways
        boxes = [page.locator(".kpi").nth(i).bounding_box() for i in range(4)]
        assert all(b is not None for b in boxes)
        first, second, third = boxes[0], boxes[1], boxes[2]
        assert first and second and third
        assert first["y"] == second["y"] and third["y"] > first["y"]  # two figures a row
        panels = [page.locator("section.panel").nth(i).bounding_box() for i in range(2)]
        assert panels[0] and panels[1] and panels[1]["y"] > panels[0]["y"]  # panels stacked, not side by side
        for panel in panels:
            assert panel and panel["x"] >= 0 and panel["x"] + panel["width"] <= 360
        expect(page.locator("#payments li")).to_contain_text("+22177****031")  # an analyst sees masked numbers
        assert not problems, problems


def test_an_agent_opens_the_buyer_card_from_an_inbox_conversation(tmp_path: Path) -> None:
    token = _add_user(tmp_path / "data", "fatou", "support")
    with chromium() as browser, palabre_server(tmp_path) as url:
        _sell_robe1(url)
        _say(url, "je veux parler à un conseiller")
        problems: list[str] = []
        page = browser.new_context(viewport={"width": 390, "height": 800}, locale="fr-FR").new_page()
        _watch(page, problems)
        page.goto(f"{url}/inbox")
        page.fill("#token", token)
        page.click("#login button")
        page.locator("#list li").filter(has_text="conseiller").click()
        page.click("#buyercard")
        expect(page).to_have_url(re.compile(r"/dashboard/demo\?conversation=demo%3Aweb%3A%2B221770000031$"))
        expect(page.locator("#card")).to_be_visible()
        expect(page.locator("#cardscore")).to_have_text("65")
        expect(page.locator("#cardhistory li")).to_contain_text(["Robe Wax Ankara ×1"])
        expect(page.locator("#cardfacts")).to_contain_text("+22177****031")  # support: masked
        expect(page.locator("#noaccess")).to_have_text("Votre rôle ne donne pas accès aux chiffres de ce vendeur.")
        page.click("#cardclose")
        page.click("#backinbox")
        expect(page).to_have_url(re.compile(r"/inbox$"))
        expect(page.locator("#who")).to_have_text("fatou · support")  # still signed in
        assert not problems, problems


def _live(url: str, token: str, action: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/api/vendors/demo/live/{action}", data=b"", method="POST",
                                     headers={"Authorization": f"Bearer {token}"})
    with OPENER.open(request, timeout=15) as r:
        return json.loads(r.read())


def test_the_dashboard_shows_the_live_on_with_its_totals_then_off(tmp_path: Path) -> None:
    token = _add_user(tmp_path / "data", "awa", "admin")
    with chromium() as browser, palabre_server(tmp_path) as url:
        _sell_robe1(url, "+221770000032")  # before the live: the day's, not the live's
        problems: list[str] = []
        page = _open(browser, url, token, problems)
        banner = page.locator("#livesession")
        expect(banner).to_have_text("Pas de live en cours")
        expect(banner).to_have_class("off")
        page.evaluate("window.stillTheSamePage = true")

        _live(url, token, "start")
        expect(banner).to_have_class("on")
        expect(banner).to_contain_text(re.compile(r"En live depuis \d\d:\d\d : 0 commande\(s\), 0 payée\(s\)"))
        _sell_robe1(url)
        expect(banner).to_contain_text(re.compile(r"1 commande\(s\), 1 payée\(s\), 15\s000\sF\sCFA$"))
        expect(page.locator("#k-paid")).to_have_text("2")  # the day counts both sales
        # velocity counts from LIVE ON, not from the first order after a pause
        expect(page.locator("#session")).to_have_text(re.compile(r"^live commencé à \d\d:\d\d$"))

        _live(url, token, "stop")
        expect(banner).to_have_text("Pas de live en cours")
        assert page.evaluate("window.stillTheSamePage") is True  # all of it over SSE
        assert not problems, problems
