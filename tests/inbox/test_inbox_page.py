"""The /inbox page in headless Chromium, next to the buyer's simulator page: a whole handoff, live."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

from tests.bot.test_simulator_page import STEP_MS, chromium, palabre_server
from tests.conftest import ROOT

with contextlib.suppress(ImportError):  # chromium() fails the test with what to install
    from playwright.sync_api import Browser, Page, expect

SHOTS = os.environ.get("PALABRE_SCREENSHOTS")  # set to a folder to keep the page's screenshots (README)


def _watch(page: Page, problems: list[str]) -> None:
    page.set_default_timeout(STEP_MS)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: JS error: {exc}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: console: {m.text}"))


def _add_user(data_dir: Path, name: str, role: str) -> str:
    """`palabre users add` on the embedded stores the page's server uses (it runs without MONGODB_URI)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PALABRE_") and k not in ("MONGODB_URI", "REDIS_URL")}
    done = subprocess.run([sys.executable, "-m", "bot", "users", "add", name, "--role", role, "--vendor", "demo",
                           "--data-dir", str(data_dir)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _say(chat: Page, text: str) -> None:
    chat.fill("#text", text)
    chat.press("#text", "Enter")
    expect(chat.locator("#log .msg.in").last).to_have_text(text)


def test_an_agent_takes_over_replies_and_hands_back_in_the_browser(tmp_path: Path) -> None:
    token = _add_user(tmp_path / "data", "awa", "support")
    with chromium() as browser, palabre_server(tmp_path) as url:
        problems: list[str] = []
        agent_ctx = browser.new_context(viewport={"width": 390, "height": 800}, locale="fr-FR")  # a phone
        agent = agent_ctx.new_page()
        _watch(agent, problems)
        agent.goto(f"{url}/inbox")
        agent.fill("#token", token)
        agent.click("#login button")
        expect(agent.locator("#who")).to_have_text("awa · support")
        expect(agent.locator("#live")).to_have_class("on")
        expect(agent.locator("#empty")).to_be_visible()

        buyer_ctx = browser.new_context(viewport={"width": 420, "height": 860}, locale="fr-FR")
        chat = buyer_ctx.new_page()
        _watch(chat, problems)
        chat.goto(f"{url}/simulator/demo")
        _say(chat, "je veux parler à un conseiller")
        expect(chat.locator("#log .msg.out").last).to_contain_text("conseiller")

        # The handoff appears on the agent's page without a reload.
        item = agent.locator("#list li").filter(has_text="je veux parler à un conseiller")
        expect(item).to_have_count(1)
        expect(item).to_contain_text("ouverte")
        item.click()
        expect(agent.locator("#messages .msg.buyer").last).to_contain_text("je veux parler à un conseiller")
        agent.click("#claim")
        expect(agent.locator("#convstatus")).to_have_text("assignée")

        agent.fill("#reply", "Bonjour, ici Awa. Que puis-je faire pour vous ?")
        agent.click("#send")
        expect(agent.locator("#messages .msg.agent").last).to_contain_text("ici Awa")
        expect(chat.locator("#log .msg.out").last).to_have_text("Bonjour, ici Awa. Que puis-je faire pour vous ?")

        # While the agent owns the conversation, the bot says nothing and the agent sees the message live.
        bot_lines = chat.locator("#log .msg.out").count()
        _say(chat, "ROBE1")
        expect(agent.locator("#messages .msg.buyer").last).to_contain_text("ROBE1")
        agent.wait_for_timeout(2000)  # the simulator page polls every 1.5 s: a bot reply would be shown by now
        expect(chat.locator("#log .msg.out")).to_have_count(bot_lines)

        agent.fill("#reply", "Je vous repasse à l'assistant pour la commande.")
        agent.click("#send")
        expect(chat.locator("#log .msg.out").last).to_contain_text("repasse à l'assistant")
        if SHOTS:
            agent.screenshot(path=str(Path(SHOTS) / "inbox-phone.png"))
            _desktop_screenshot(browser, url, token, Path(SHOTS) / "inbox.png")
        agent.click("#release")
        expect(agent.locator("#convstatus")).to_have_text("résolue")

        # Back with the bot: it answers the next message.
        _say(chat, "ROBE1")
        offer = chat.locator("#log .msg.out").filter(has=chat.locator("button[data-payload=pay]"))
        expect(offer).to_have_count(1)
        expect(offer).to_contain_text("Robe Wax Ankara")
        assert not problems, problems


def _desktop_screenshot(browser: Browser, url: str, token: str, path: Path) -> None:
    page = browser.new_context(viewport={"width": 1100, "height": 640}, locale="fr-FR").new_page()
    page.goto(f"{url}/inbox")
    page.fill("#token", token)
    page.click("#login button")
    page.locator("#list li").first.click()
    expect(page.locator("#messages .msg.agent")).to_have_count(2)
    page.screenshot(path=str(path))
    page.context.close()
