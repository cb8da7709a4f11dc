"""The simulator chat page in headless Chromium: ROBE1, PAYER, Wave, sandbox checkout, receipt in the chat."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, plain

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
RECEIPT = re.compile(r"LP-\d{4}-\d{4}-[0-9A-F]{4}")
STEP_MS = 10_000  # every browser wait is bounded by this
# Left out of the server's environment: this test wants the embedded store in tmp_path, not a shared one.
SERVER_ENV_DROP = ("MONGODB_URI", "REDIS_URL")

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # reported as a failure in the test, so CI notices a missing dependency
    sync_playwright = None  # type: ignore[assignment]


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _healthy(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(f"{url}/healthz", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def palabre_server(tmp_path: Path) -> Iterator[str]:
    """`python -m bot run` on a free port with its data in tmp_path; yields its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PALABRE_") and k not in SERVER_ENV_DROP}
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(tmp_path / "data")],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 20
        while not _healthy(url):
            if proc.poll() is not None:
                pytest.fail(f"palabre run exited ({proc.returncode}) before /healthz answered:\n{_log_tail(log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"palabre run: no 200 from {url}/healthz within 20 s:\n{_log_tail(log)}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium driven by Playwright; a missing piece fails the test with what to install."""
    if sync_playwright is None:
        pytest.fail("the playwright Python package is missing: pip install playwright "
                    "(do not run `playwright install`; the test uses Debian's /usr/bin/chromium)")
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


def _watch(page: Page, problems: list[str]) -> None:
    page.set_default_timeout(STEP_MS)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: JS error: {exc}"))
    page.on("dialog", lambda d: (problems.append(f"{page.url}: alert: {d.message}"), d.dismiss()))
    page.on("console", lambda m: m.type == "error" and not m.location.get("url", "").endswith("/favicon.ico")
            and problems.append(f"{page.url}: console: {m.text} ({m.location.get('url')})"))


def test_buyer_pays_robe1_in_the_chat_page(tmp_path: Path) -> None:
    with chromium() as browser, palabre_server(tmp_path) as url:
        _buy_robe1(browser, url, tmp_path)


def _buy_robe1(browser: Browser, url: str, tmp_path: Path) -> None:
    problems: list[str] = []
    context = browser.new_context(viewport={"width": 420, "height": 860}, locale="fr-FR")
    chat = context.new_page()
    _watch(chat, problems)
    chat.goto(f"{url}/simulator/demo")
    expect(chat.locator("#contact")).to_have_value("+221770000001")

    chat.fill("#text", "ROBE1")
    chat.press("#text", "Enter")
    expect(chat.locator("#log .msg.in").last).to_have_text("ROBE1")
    offer = chat.locator("#log .msg.out").filter(has=chat.locator("button[data-payload=pay]")).last
    expect(offer).to_be_visible()
    offer_text = plain(offer.inner_text())
    assert "Robe Wax Ankara" in offer_text and "15" in offer_text and "F CFA" in offer_text, offer_text
    assert "15 000 F CFA" in offer_text, offer_text
    expect(offer.locator("button[data-payload=pay]")).to_have_text("PAYER")
    expect(offer.locator("button[data-payload=cancel]")).to_have_text("ANNULER")

    offer.locator("button[data-payload=pay]").click()
    methods = chat.locator("#log .msg.out").filter(has=chat.locator("button[data-payload=wave]")).last
    expect(methods.locator(".buttons button")).to_have_text(["Wave", "Orange Money", "Carte"])
    methods.locator("button[data-payload=wave]").click()

    link = chat.locator("#log .msg.out").last.locator("a")
    expect(link).to_have_attribute("href", re.compile(rf"^{re.escape(url)}/pay/sandbox/\S+$"))
    href = link.get_attribute("href")
    assert href is not None and link.inner_text() == href

    checkout = context.new_page()
    _watch(checkout, problems)
    response = checkout.goto(href)
    assert response is not None and response.status == 200, response and response.status
    heading = checkout.locator("h1")
    expect(heading).to_be_visible()
    assert plain(heading.inner_text()) == "15 000 F CFA"
    assert "Robe Wax Ankara" in checkout.locator(".card").inner_text()
    checkout.get_by_role("button", name="Payer", exact=True).click()
    expect(checkout.locator("h1")).to_contain_text("Paiement reçu")
    checkout.screenshot(path=tmp_path / "checkout.png")
    checkout.close()

    chat.bring_to_front()
    confirmation = chat.locator("#log .msg.out").filter(has_text="Paiement reçu")
    expect(confirmation).to_have_count(1, timeout=10_000)
    expect(confirmation).to_contain_text(RECEIPT)
    assert RECEIPT.search(confirmation.inner_text())

    shot = tmp_path / "simulator.png"
    chat.screenshot(path=shot, full_page=True)
    assert shot.stat().st_size > 0
    context.close()
    assert not problems, problems
