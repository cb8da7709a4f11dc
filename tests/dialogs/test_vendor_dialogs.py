"""A vendor changes its segment's conversation, or brings its own dialog file, without Python."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot import commerce
from bot.cli.conversation_tests import run_files
from bot.vendors import VendorLoader
from dialogs import Registry, YamlInvalid
from tests.conftest import EXAMPLES

DEMO = yaml.safe_load((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"))


def vendor(tmp_path: Path, name: str = "v.yaml", **changes: object) -> Path:
    f = tmp_path / name
    f.write_text(yaml.safe_dump({**DEMO, **changes}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return f


def script(tmp_path: Path, vendor_file: Path, steps: list[dict[str, object]]) -> Path:
    f = tmp_path / "t.yaml"
    f.write_text(yaml.safe_dump({"vendor": str(vendor_file), "tests": [{"name": "t", "steps": steps}]},
                                allow_unicode=True), encoding="utf-8")
    return f


async def passes(tmp_path: Path, vendor_file: Path, steps: list[dict[str, object]]) -> None:
    [result] = await run_files([script(tmp_path, vendor_file, steps)])
    assert result.ok, "\n".join(result.failures)


async def test_vendor_transitions_win_over_the_segment_and_new_states_get_new_wording(tmp_path: Path) -> None:
    f = vendor(tmp_path, settings={**DEMO["settings"], "reservation_minutes": 5}, dialog={
        "states": {"offered": {"timeout": {"after": "2m", "trigger": "nudge"}}},
        "transitions": [
            {"trigger": "buy", "source": "idle", "when": "entities.product == 'BOUBOU3'", "say": "by_phone"},
            {"trigger": "nudge", "source": "offered", "say": "still_there"},
        ],
    }, messages={"fr": {"by_phone": "Le {{ example_code }} se vend au téléphone : appelez-nous.",
                        "still_there": "Toujours là, {{ name or 'cher client' }} ?"}})
    await passes(tmp_path, f, [
        {"user": "BOUBOU3", "bot": "se vend au téléphone", "state": "idle"},
        {"user": "ROBE1", "bot": "Réservé 5 min", "state": "offered"},
        {"wait": "2m", "bot": "Toujours là, cher client ?", "state": "offered"},
        {"wait": "3m", "bot": "a expiré", "state": "idle"},
    ])


def test_a_setting_the_dialog_does_not_declare_is_refused_at_its_line(tmp_path: Path) -> None:
    f = vendor(tmp_path, settings={"reservation_minutes": 5, "couleur": "rouge"})
    with pytest.raises(YamlInvalid) as err:
        VendorLoader(commerce.register(Registry())).load(f)
    problem = err.value.problems[0]
    assert problem.file == str(f) and "settings.couleur: unknown setting" in problem.message
    assert problem.line == f.read_text(encoding="utf-8").splitlines().index("  couleur: rouge") + 1


def test_a_wrong_override_is_reported_in_the_vendor_file(tmp_path: Path) -> None:
    f = vendor(tmp_path, dialog={"transitions": [{"trigger": "buy", "source": "idle", "dest": "nowhere"}]})
    with pytest.raises(YamlInvalid) as err:
        VendorLoader(commerce.register(Registry())).load(f)
    assert err.value.problems[0].file == str(f) and "unknown state 'nowhere'" in str(err.value)


def test_an_override_cannot_name_an_unregistered_action(tmp_path: Path) -> None:
    f = vendor(tmp_path, dialog={"states": {"idle": {"on_enter": "os.system"}}})
    with pytest.raises(YamlInvalid, match=r"unknown actions/conditions: os\.system"):
        VendorLoader(commerce.register(Registry())).load(f)


def test_vendors_without_overrides_share_the_segment_dialog_but_not_with_overrides(tmp_path: Path) -> None:
    loader = VendorLoader(commerce.register(Registry()))
    a = loader.load(vendor(tmp_path, "a.yaml", id="a"))
    b = loader.load(vendor(tmp_path, "b.yaml", id="b"))
    c = loader.load(vendor(tmp_path, "c.yaml", id="c", dialog={"fallback": {"max_misses": 3}}))
    assert a.dialog is b.dialog and c.dialog is not a.dialog
    assert c.dialog.spec.fallback.max_misses == 3 and a.dialog.spec.fallback.max_misses == 2


OWN = """
name: tailor
description: Book a fitting with a tailor.
initial: idle
settings: {answer_minutes: 15}
slots:
  day: {type: date, ask: ask_day, invalid: bad_day}
  hour: {type: time, ask: ask_hour}
states:
  idle: {prompt: hello}
  booking:
    form: {slots: [day, hour]}
    timeout: {after: answer_minutes}
  booked: {say: booked}
transitions:
  - {trigger: [appointment, greet], source: idle, dest: booking}
  - {trigger: completed, source: booking, dest: booked}
  - {trigger: [cancel, timeout], source: booking, dest: idle, set: {day: null, hour: null}, say: dropped}
fallback: {max_misses: 2, then: handoff}
messages:
  fr:
    hello: "Bonjour ! Écrivez « rendez-vous » pour un essayage."
    ask_day: "Quel jour ?"
    bad_day: "Je n'ai pas compris la date (ex. 12/07 ou demain)."
    ask_hour: "À quelle heure ?"
    booked: "C'est noté : le {{ slots.day }} à {{ slots.hour }}."
    dropped: "Rendez-vous abandonné."
    not_understood: "Pardon ?"
    stale_button: "Bouton périmé."
    offer_human: "Je vous passe un conseiller."
"""


async def test_a_vendor_runs_its_own_dialog_file(tmp_path: Path) -> None:
    (tmp_path / "tailor.yaml").write_text(OWN, encoding="utf-8")
    f = vendor(tmp_path, "atelier.yaml", segment="tailor.yaml", settings={"answer_minutes": 20},
               messages={"fr": {"ask_hour": "Et l'heure ?"}})
    await passes(tmp_path, f, [
        {"user": "je veux un rendez-vous", "bot": "Quel jour ?", "state": "booking"},
        {"user": "le 31/02", "bot": "Je n'ai pas compris la date"},
        {"user": "demain", "bot": "Et l'heure ?", "slots": {"day": "2026-06-10"}},
        {"user": "15h30", "bot": "C'est noté : le 2026-06-10 à 15:30.", "state": "booked"},
    ])
    await passes(tmp_path, f, [
        {"user": "rendez-vous", "state": "booking"},
        {"wait": "19m", "silent": True},
        {"wait": "1m", "bot": "Rendez-vous abandonné.", "state": "idle"},
    ])


def test_an_unknown_segment_names_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(YamlInvalid, match=r"unknown segment 'boutique'.*live_seller"):
        VendorLoader(commerce.register(Registry())).load(vendor(tmp_path, segment="boutique"))


def test_a_vendor_dialog_file_cannot_be_read_from_outside_its_folder(tmp_path: Path) -> None:
    (tmp_path / "tailor.yaml").write_text(OWN, encoding="utf-8")
    inner = tmp_path / "vendors"
    inner.mkdir()
    for segment in ("../tailor.yaml", str(tmp_path / "tailor.yaml")):
        with pytest.raises(YamlInvalid, match="must be in the vendor file's folder"):
            VendorLoader(commerce.register(Registry())).load(vendor(inner, segment=segment))


async def test_a_backtracking_slot_pattern_cannot_stall_the_bot(tmp_path: Path) -> None:
    own = OWN.replace("hour: {type: time, ask: ask_hour}",
                      "hour: {type: text, regex: '(a|aa)+$', ask: ask_hour, invalid: bad_day}")
    (tmp_path / "tailor.yaml").write_text(own, encoding="utf-8")
    f = vendor(tmp_path, "atelier.yaml", segment="tailor.yaml", settings={"answer_minutes": 20}, messages={})
    await passes(tmp_path, f, [
        {"user": "rendez-vous"},
        {"user": "demain", "bot": "À quelle heure ?"},
        {"user": "a" * 40 + "!", "bot": "Je n'ai pas compris la date"},
        {"user": "aaaa", "bot": "C'est noté", "state": "booked"},
    ])


def test_a_vendor_folder_may_hold_its_dialog_and_conversation_tests(tmp_path: Path) -> None:
    (tmp_path / "tailor.yaml").write_text(OWN, encoding="utf-8")
    vendor(tmp_path, "atelier.yaml", segment="tailor.yaml", settings={"answer_minutes": 20}, messages={})
    (tmp_path / "atelier.test.yaml").write_text("vendor: atelier.yaml\ntests:\n  - name: t\n    steps:\n"
                                                "      - {user: rendez-vous}\n", encoding="utf-8")
    vendors = VendorLoader(commerce.register(Registry())).load_dir(tmp_path)
    assert list(vendors) == ["demo"] and vendors["demo"].dialog.spec.name == "tailor"
