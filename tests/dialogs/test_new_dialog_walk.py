"""A new dialog written from docs/dialogs.md alone, as a new vendor would: a laundry's pickup. It validates
(`palabre check`), passes its conversation tests (`palabre test`), draws (`palabre diagram`) in real
subprocesses, and runs in the simulator of a real server."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT, ServerFactory, plain

DIALOG = """\
    name: pressing
    description: A laundry picks up clothes at the customer's address.
    initial: idle
    settings:
      answer_minutes: 30
    slots:
      address: {type: text, min: 8, ask: ask_address, invalid: bad_address}
      day: {type: date, ask: ask_day, invalid: bad_day}
      hour: {type: time, ask: ask_hour}
      bags: {type: int, min: 1, max: 10, ask: ask_bags, invalid: bad_bags}
    states:
      idle:
        prompt: menu
      collecting:
        form: {slots: [address, day, hour, bags]}
        timeout: {after: answer_minutes, trigger: timeout}
      confirming:
        say: summary
        prompt: summary
      scheduled:
        say: scheduled
        tags: [end]
    transitions:
      - {trigger: [pickup, appointment, buy], source: [idle, scheduled], dest: collecting, say: lets_go}
      - {trigger: completed, source: collecting, dest: confirming}
      - {trigger: [confirm, affirm], source: confirming, dest: scheduled}
      - trigger: change
        source: confirming
        dest: collecting
        set: {address: null, day: null, hour: null, bags: null}
      - trigger: [cancel, deny, timeout]
        source: [collecting, confirming]
        dest: idle
        set: {address: null, day: null, hour: null, bags: null}
        say: dropped
    global:
      - {trigger: [greet, menu, help], say: menu}
      - {trigger: human, actions: request_human, say: human}
      - {trigger: thanks, say: thanks}
    fallback: {max_misses: 2, then: handoff}
    messages:
      fr:
        menu:
          text: "Bonjour, ici {{ vendor_name }} 👕 Nous passons chercher votre linge chez vous."
          buttons: [{id: pickup, title: RAMASSAGE}, {id: human, title: CONSEILLER}]
        lets_go: "Très bien, organisons le ramassage."
        ask_address: "À quelle adresse passons-nous ?"
        bad_address: "Donnez une adresse un peu plus précise (quartier, rue, repère)."
        ask_day: "Quel jour ?"
        bad_day: "Je n'ai pas compris le jour (par ex. demain, 12/07)."
        ask_hour: "À quelle heure ?"
        ask_bags: "Combien de sacs ?"
        bad_bags: "Entre 1 et 10 sacs, s'il vous plaît."
        summary:
          text: >-
            Ramassage le {{ slots.day | day(locale) }} à {{ slots.hour }}, {{ slots.bags }} sac(s),
            à : {{ slots.address }}. On confirme ?
          buttons:
            - {id: confirm, title: CONFIRMER}
            - {id: change, title: MODIFIER}
            - {id: cancel, title: ANNULER}
        scheduled: >-
          C'est noté ! Notre livreur passe le {{ slots.day | day(locale) }} à {{ slots.hour }}. Merci !
        dropped: "Ramassage annulé."
        human: "Un conseiller vous répond ici même."
        thanks: "Avec plaisir !"
        not_understood: "Pardon, je n'ai pas compris « {{ text }} »."
        stale_button: "Ce bouton n'est plus valable."
        offer_human: "Je vous passe un conseiller."
"""
VENDOR = """\
    id: pressing-ndiaye
    name: Pressing Ndiaye
    segment: pressing.yaml
    locale: fr
    catalogue:
      - {code: SAC, name: Sac de linge, price: 2000, stock: 1000}
"""
TESTS = """\
    vendor: ndiaye.yaml
    tests:
      - name: happy path
        steps:
          - {user: bonjour, bot: "Pressing Ndiaye", buttons: [pickup, human]}
          - {button: pickup, bot: "À quelle adresse", state: collecting}
          - {user: Sicap, bot: "plus précise"}
          - {user: "Sicap Liberté 6, villa 12", bot: "Quel jour"}
          - {user: demain, bot: "À quelle heure"}
          - {user: 10h, bot: "Combien de sacs"}
          - {user: "2", bot: "Ramassage le mer. 10 juin à 10:00, 2 sac(s)", buttons: [confirm, change, cancel]}
          - {button: confirm, bot: "C'est noté", state: scheduled}
      - name: typed
        steps:
          - {user: salut, buttons: [pickup, human]}
          - {user: ramassage, bot: "À quelle adresse", state: collecting}
          - {user: annuler, bot: "Ramassage annulé", state: idle}
      - name: timeout
        steps:
          - {button: pickup, state: collecting}
          - {wait: 30m, bot: "Ramassage annulé", state: idle}
"""


def written(tmp_path: Path) -> Path:
    folder = tmp_path / "pressing"
    folder.mkdir()
    for name, text in (("pressing.yaml", DIALOG), ("ndiaye.yaml", VENDOR), ("ndiaye.test.yaml", TESTS)):
        (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


def palabre(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_the_new_dialog_validates_passes_its_tests_and_draws(tmp_path: Path) -> None:
    folder = written(tmp_path)
    checked = palabre("check", str(folder))
    assert checked.returncode == 0 and checked.stdout.strip() == "ok: 3 file(s) valid", checked.stdout + checked.stderr
    tested = palabre("test", str(folder / "ndiaye.test.yaml"))
    assert tested.returncode == 0 and "3 passed, 0 failed" in tested.stdout, tested.stdout + tested.stderr
    drawn = palabre("diagram", str(folder / "ndiaye.yaml"))
    assert drawn.returncode == 0, drawn.stderr
    lines = drawn.stdout.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    idle --> collecting: pickup / appointment / buy" in lines
    assert "    confirming --> scheduled: confirm / affirm" in lines


async def test_the_new_dialog_runs_in_the_simulator(start_server: ServerFactory, tmp_path: Path) -> None:
    server = await start_server(written(tmp_path))
    buyer = "+221770000501"

    async def say(text: str) -> list[str]:
        answer = await server.say(buyer, text, vendor="pressing-ndiaye")
        return [plain(r["text"]) for r in answer["replies"]]

    assert "Pressing Ndiaye" in (await say("bonjour"))[0]
    # typed, not tapped: the [RAMASSAGE] button's title; the transition's words come before the question
    assert await say("ramassage") == ["Très bien, organisons le ramassage.", "À quelle adresse passons-nous ?"]
    assert await say("Sicap") == ["Donnez une adresse un peu plus précise (quartier, rue, repère)."]
    assert await say("Sicap Liberté 6, villa 12") == ["Quel jour ?"]
    assert await say("demain") == ["À quelle heure ?"]
    assert await say("10h") == ["Combien de sacs ?"]
    [summary] = await say("2")
    assert "10:00, 2 sac(s), à : Sicap Liberté 6, villa 12" in summary
    [done] = await say("confirmer")
    assert done.startswith("C'est noté ! Notre livreur passe le ")
