"""Conversation tests as data (`palabre test`): YAML scripts of buyer turns and the replies expected,
run through the real pipeline, store and timers with a clock the script can move forward."""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from channels import Contact, Event
from dialogs import DialogError
from dialogs.schema import duration_seconds
from dialogs.yamlsource import YamlInvalid, read_file

DEFAULT_DIR = Path("tests/conversations")
STEP_TIMEOUT = 20.0


class Step(BaseModel):
    """One buyer action (`user`, `button`, `wait`, `pay`) and what must hold after it."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = None
    button: str | None = None
    wait: str | float | None = None  # time travel: 10m, 2h, 1d; due timers fire
    pay: Literal["paid", "failed"] | None = None  # the PSP reports the current order's payment
    bot: list[str] = Field(default_factory=list)  # fragments, each in some reply of this step
    not_: list[str] = Field(default_factory=list, alias="not")  # fragments no reply may contain
    buttons: list[str] | None = None  # button ids of the last reply offering some
    rows: list[str] | None = None  # list row ids of the last reply offering a list
    state: str | None = None
    slots: dict[str, Any] = Field(default_factory=dict)  # value, "*" for any value, null for unset
    silent: bool = False  # no reply at all
    handoff: bool | None = None
    document: list[str] | None = None  # a reply carries a PDF (a quote) whose text has these fragments

    @model_validator(mode="before")
    @classmethod
    def _lists(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("bot", "not", "document"):
                if isinstance(data.get(key), str):
                    data = {**data, key: [data[key]]}
        return data

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [a for a in (self.user, self.button, self.wait, self.pay) if a is not None]
        if len(actions) != 1:
            raise ValueError("each step has exactly one of user, button, wait, pay")
        return self

    def label(self) -> str:
        for name in ("user", "button", "wait", "pay"):
            if getattr(self, name) is not None:
                return f"{name}: {getattr(self, name)}"
        return "?"


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    contact: str | None = None  # the buyer's address for this test (default: the file's)
    start: float | None = None  # the clock at its first step (default: the file's)
    steps: list[Step] = Field(min_length=1)


class ConversationFile(BaseModel):
    """A file of conversation tests against one vendor file (path relative to this file)."""

    model_config = ConfigDict(extra="forbid")

    vendor: str
    # operator action modules for this run (as PALABRE_ACTIONS); a test file is the operator's, never a vendor's
    actions: list[str] = Field(default_factory=list)
    contact: str = "+221770000001"
    start: float = 1_781_000_000.0  # the clock at the first step (2026-06-09 10:13 UTC)
    tests: list[Case] = Field(min_length=1)


@dataclass
class Result:
    file: str
    name: str
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _check(step: Step, replies: list[Any], state: str, slots: dict[str, Any], handoff: bool) -> list[str]:
    texts = [r.text or "" for r in replies]
    joined = "\n".join(texts + [b.title for r in replies for b in r.buttons]
                       + [row.title for r in replies for s in r.list_sections for row in s.rows])
    folded = _fold(joined)
    problems = [f"expected {frag!r} in the replies" for frag in step.bot if _fold(frag) not in folded]
    problems += [f"did not expect {frag!r} in the replies" for frag in step.not_ if _fold(frag) in folded]
    if step.silent and replies:
        problems.append("expected no reply")
    if step.buttons is not None:
        offered = [r for r in replies if r.buttons]
        ids = [b.id for b in offered[-1].buttons] if offered else []
        if ids != step.buttons:
            problems.append(f"expected buttons {step.buttons}, got {ids}")
    if step.rows is not None:
        listed = [r for r in replies if r.list_sections]
        ids = [row.id for s in listed[-1].list_sections for row in s.rows] if listed else []
        if ids != step.rows:
            problems.append(f"expected list rows {step.rows}, got {ids}")
    if step.state is not None and state != step.state:
        problems.append(f"expected state {step.state!r}, got {state!r}")
    for name, want in step.slots.items():
        have = slots.get(name)
        if (want == "*" and have is None) or (want != "*" and have != want):
            problems.append(f"expected slot {name} = {want!r}, got {have!r}")
    if step.handoff is not None and handoff != step.handoff:
        problems.append(f"expected handoff {step.handoff}, got {handoff}")
    if problems:
        problems.append("replies were: " + (" | ".join(t.replace("\n", " ⏎ ") for t in texts) or "(none)"))
    return problems


async def _check_document(store: Any, fragments: list[str], replies: list[Any]) -> list[str]:
    """The PDF a reply of this step carries, read back as a PDF reader shows it (pypdf, the test extra)."""
    urls = [r.media_url for r in replies if r.media_url and r.data.get("media_type") == "document"]
    if not urls:
        return ["expected a reply carrying a document"]
    doc_id = urls[-1].rsplit("/", 1)[-1].removesuffix(".pdf")
    document = await store.get_document(doc_id)
    if document is None:
        return [f"the document {urls[-1]} is not stored"]
    try:
        import io

        from pypdf import PdfReader
    except ImportError:
        return ["checking a document needs pypdf (pip install palabre[test])"]
    text = _fold(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(document.body)).pages))
    text = " ".join(text.split())
    missing = [f for f in fragments if " ".join(_fold(f).split()) not in text]
    return [f"expected {f!r} in the document; it reads: {text[:300]}" for f in missing]


def _fold(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKC", text).replace("\u202f", " ").replace("\xa0", " ").casefold()


def _load_vendor(path: Path, spec: ConversationFile) -> dict[str, Any]:
    """The file's vendor, its dialog naming built-ins, PALABRE_ACTIONS and the file's own `actions`."""
    import os

    from bot.actions import build_registry
    from bot.vendors import VendorLoader

    env = dict(os.environ)
    if spec.actions:
        env["PALABRE_ACTIONS"] = ",".join([*spec.actions, *filter(None, [env.get("PALABRE_ACTIONS")])])
    return VendorLoader(build_registry(env)).load_files([(path.parent / spec.vendor).resolve()])


async def _run_case(path: Path, spec: ConversationFile, case: Case, vendors: dict[str, Any]) -> Result:
    from bot.runtime import Runtime
    from bot.settings import Settings
    from storage.embedded import EmbeddedStore

    result = Result(str(path), case.name)
    vendor_file = (path.parent / spec.vendor).resolve()
    (vendor,) = vendors.values()
    clock = Clock(case.start or spec.start)
    with tempfile.TemporaryDirectory(prefix="palabre-test-") as data_dir:
        settings = Settings.from_env({}, data_dir=data_dir, vendors_dir=str(vendor_file.parent),
                                     timer_interval=3600.0, outbox_interval=3600.0)
        rt = Runtime(settings, vendors, store=EmbeddedStore(data_dir), clock=clock)
        await rt.start()
        try:
            contact = case.contact or spec.contact
            conv_id = f"{vendor.id}:web:{contact}"
            seen = 0
            for i, step in enumerate(case.steps, 1):
                await asyncio.wait_for(_act(rt, vendor.id, contact, conv_id, step, clock, i), STEP_TIMEOUT)
                await rt.pipeline.idle(timeout=STEP_TIMEOUT)
                messages = await rt.store.transcript(conv_id)
                out = [m.reply for m in messages[seen:] if m.direction == "out" and m.reply]
                seen = len(messages)
                conv = await rt.store.get_conversation(conv_id)
                state, slots = (conv.state, conv.slots) if conv else (vendor.dialog.spec.initial, {})
                handoff = bool(conv and (conv.handoff or conv.slots.get("handoff_requested")))
                problems = _check(step, out, state, slots, handoff)
                if step.document is not None:
                    problems += await _check_document(rt.store, step.document, out)
                for problem in problems:
                    result.failures.append(f"step {i} ({step.label()}): {problem}")
                if result.failures:
                    break
        finally:
            await rt.stop()
    return result


async def _act(rt: Any, vendor_id: str, contact: str, conv_id: str, step: Step, clock: Clock, i: int) -> None:
    if step.wait is not None:
        clock.now += duration_seconds(step.wait, {})
        await rt.timers.fire_due()
        return
    if step.pay is not None:
        conv = await rt.store.get_conversation(conv_id)
        order = await rt.store.get_order(conv.slots.get("order_id")) if conv else None
        if order is None or not order.payment_id:
            raise AssertionError("no payment link was sent for a current order")
        # what the sandbox PSP's signed webhook turns into (bot/http/checkout.py)
        event = Event(id=f"psp:test:{order.payment_id}:{step.pay}", kind="system", channel=order.channel,
                      provider="system", vendor_id=vendor_id, contact=order.contact,
                      payload="payment_succeeded" if step.pay == "paid" else "payment_failed",
                      data={"order_id": order.id, "payment_id": order.payment_id})
        await rt.pipeline.ingest([event])
        return
    event = Event(id=f"test:{conv_id}:{i}", kind="postback" if step.button else "message", channel="web",
                  provider="simulator", vendor_id=vendor_id, contact=Contact(address=contact),
                  text=step.user, payload=step.button, received_at=clock.now)
    await rt.pipeline.ingest_and_wait(event, timeout=STEP_TIMEOUT)


def collect(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for target in paths or [str(DEFAULT_DIR)]:
        p = Path(target)
        files += sorted([*p.glob("*.yaml"), *p.glob("*.yml")]) if p.is_dir() else [p]
    return files


async def run_files(files: list[Path], name_filter: str | None = None) -> list[Result]:
    results: list[Result] = []
    for f in files:
        try:
            spec = read_file(ConversationFile, f)[0]
        except YamlInvalid as exc:
            results.append(Result(str(f), "(file)", [str(p) for p in exc.problems]))
            continue
        cases = [c for c in spec.tests if not name_filter or name_filter in c.name]
        try:
            vendors = _load_vendor(f, spec) if cases else {}
        except (YamlInvalid, DialogError) as exc:
            results += [Result(str(f), c.name, [f"{type(exc).__name__}: {exc}"]) for c in cases]
            continue
        for case in cases:
            try:
                results.append(await _run_case(f, spec, case, vendors))
            except (AssertionError, TimeoutError) as exc:
                results.append(Result(str(f), case.name, [f"{type(exc).__name__}: {exc}"]))
    return results


def report(results: list[Result], elapsed: float) -> str:
    lines = []
    for r in results:
        lines.append(f"{'PASS' if r.ok else 'FAIL'} {r.file} :: {r.name}")
        lines += [f"    {f}" for f in r.failures]
    failed = sum(1 for r in results if not r.ok)
    lines.append(f"{len(results) - failed} passed, {failed} failed in {elapsed:.1f}s")
    return "\n".join(lines)


def main(paths: list[str], name_filter: str | None = None) -> int:
    """`palabre test [PATHS]`: print a pass/fail report; 1 if any test failed (or none ran)."""
    files = collect(paths)
    missing = [f for f in files if not f.is_file()]
    if missing or not files:
        print(f"no conversation test files at {', '.join(map(str, missing or paths or [DEFAULT_DIR]))}")
        return 1
    started = time.monotonic()
    results = asyncio.run(run_files(files, name_filter))
    print(report(results, time.monotonic() - started))
    return 0 if results and all(r.ok for r in results) else 1
