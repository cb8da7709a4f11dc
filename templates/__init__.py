"""Message templates: per segment and locale, Jinja2 text with buttons, overridable by vendors.

Every template, shipped or vendor-supplied, renders in one sandboxed environment (templates.sandbox)
with only the variables documented for its message (templates.variables, docs/templates.md).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Template, TemplateError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from channels import Button, Reply
from channels.replies import ListRow, ListSection
from locales import DEFAULT, SUPPORTED, normalise
from templates.check import MessageProblem, hint, template_problem
from templates.sandbox import compile_template
from templates.variables import LISTS, allowed, scope

HERE = Path(__file__).parent
log = logging.getLogger("palabre.templates")


MAX_LIST_ROWS = 10  # what a WhatsApp list message shows


class ListRowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64)  # the trigger when tapped (Telegram's callback data: 64 bytes)
    title: str
    description: str | None = None


class ListSectionSpec(BaseModel):
    """A section of a list; with `each` (a list variable such as `products`), its rows are written once
    per item of that list, the item being `item` (row ids are then templates too, e.g. "text:{{ item.code }}")."""

    model_config = ConfigDict(extra="forbid")

    title: str = ""
    each: str | None = None
    rows: list[ListRowSpec] = Field(min_length=1)

    @field_validator("each")
    @classmethod
    def _each(cls, value: str | None) -> str | None:
        if value is not None and value not in LISTS:
            raise ValueError(f"each: '{value}' is not a list variable (lists: {', '.join(sorted(LISTS))})")
        return value


class ListSpec(BaseModel):
    """A list of choices: a WhatsApp list message (a button opens it), numbered choices on SMS and e-mail."""

    model_config = ConfigDict(extra="forbid")

    button: str = Field(min_length=1)
    sections: list[ListSectionSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _rows(self) -> ListSpec:
        total = sum(len(s.rows) for s in self.sections if s.each is None)
        if total > MAX_LIST_ROWS:
            raise ValueError(f"a list has at most {MAX_LIST_ROWS} rows in all (WhatsApp shows no more); this one has "
                             f"{total}")
        return self


class MessageSpec(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    text: str
    buttons: list[Button] = Field(default_factory=list)
    choices: ListSpec | None = Field(default=None, alias="list")


class MessageError(ValueError):
    """A message template that is missing or does not render."""


def segment_file(segment: str, locale: str) -> Path:
    return HERE / segment / f"{locale}.yaml"


def load_segment(segment: str) -> dict[str, dict[str, MessageSpec]]:
    """The shipped messages of a segment: {locale: {key: MessageSpec}}."""
    out: dict[str, dict[str, MessageSpec]] = {}
    for path in sorted((HERE / segment).glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out[path.stem] = {k: _spec(v) for k, v in raw.items()}
    return out


def _spec(value: Any) -> MessageSpec:
    return MessageSpec(text=value) if isinstance(value, str) else MessageSpec.model_validate(value)


def _parts(value: Any, spec: MessageSpec) -> list[tuple[tuple[str | int, ...], str, str | None]]:
    """(path inside the message, template source, the list its `item` comes from) for the text, each button
    title and each part of a list."""
    text_part: tuple[str | int, ...] = () if isinstance(value, str) else ("text",)
    parts: list[tuple[tuple[str | int, ...], str, str | None]] = [
        (text_part, spec.text, None), *((("buttons", i, "title"), b.title, None) for i, b in enumerate(spec.buttons))]
    if spec.choices is not None:
        parts.append((("list", "button"), spec.choices.button, None))
        for i, section in enumerate(spec.choices.sections):
            parts.append((("list", "sections", i, "title"), section.title, None))
            for j, row in enumerate(section.rows):
                where = ("list", "sections", i, "rows", j)
                if section.each:
                    parts.append(((*where, "id"), row.id, section.each))
                parts.append(((*where, "title"), row.title, section.each))
                if row.description:
                    parts.append(((*where, "description"), row.description, section.each))
    return parts


@dataclass(frozen=True)
class _Fixed:
    """A row id written as is (only rows built with `each` have templated ids)."""

    value: str

    def render(self, ctx: dict[str, Any]) -> str:
        return self.value


_Rows = tuple[tuple[Template | _Fixed, Template, Template | None], ...]


@dataclass(frozen=True)
class _Compiled:
    names: tuple[str, ...]
    text: Template
    buttons: tuple[tuple[str, Template], ...]
    shipped: _Compiled | None = None  # set on a vendor's wording: what the buyer gets if it fails
    list_button: Template | None = None
    sections: tuple[tuple[Template, str | None, _Rows], ...] = ()

    @classmethod
    def of(cls, spec: MessageSpec, names: tuple[str, ...], shipped: _Compiled | None = None) -> _Compiled:
        menu = spec.choices
        sections = tuple(
            (compile_template(s.title), s.each,
             tuple((compile_template(r.id) if s.each else _Fixed(r.id), compile_template(r.title),
                    compile_template(r.description) if r.description else None) for r in s.rows))
            for s in (menu.sections if menu else ()))
        return cls(names, compile_template(spec.text),
                   tuple((b.id, compile_template(b.title)) for b in spec.buttons), shipped,
                   compile_template(menu.button) if menu else None, sections)

    def render(self, ctx: dict[str, Any]) -> Reply:
        reply = Reply(text=self.text.render(ctx).strip(),
                      buttons=[Button(id=i, title=t.render(ctx)) for i, t in self.buttons])
        if self.list_button is not None:
            budget = MAX_LIST_ROWS
            for title, each, rows in self.sections:
                contexts = [{**ctx, "item": item} for item in (ctx.get(each) or [])] if each else [ctx]
                made = [ListRow(id=i.render(c).strip(), title=t.render(c).strip(),
                                description=d.render(c).strip() if d else None)
                        for c in contexts for i, t, d in rows][:budget]
                budget -= len(made)
                if made:  # a list built from an empty catalogue shows no section rather than an empty one
                    reply.list_sections.append(ListSection(title=title.render(ctx).strip(), rows=made))
            if reply.list_sections:
                reply.data["list_button"] = self.list_button.render(ctx).strip()
        return reply


class MessageCatalog:
    """Compiled messages for one vendor: the segment's wording with the vendor's overrides on top.

    Templates are compiled once (and shared across vendors), so rendering a reply costs one
    sandboxed Jinja2 render. `problems` lists what `palabre check` refuses; a vendor's wording that
    still fails at run time is logged and replaced by the shipped wording of that message.
    """

    def __init__(
        self,
        base: Mapping[str, Mapping[str, MessageSpec]],
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        segment: str = "live_seller",
        owner: str = "",
    ) -> None:
        self.segment = segment
        self.owner = owner
        self.problems: list[MessageProblem] = []
        self._compiled: dict[tuple[str, str], _Compiled] = {}
        known = sorted({k for msgs in base.values() for k in msgs})
        for loc, msgs in base.items():
            for key, spec in msgs.items():
                self._add_shipped(loc, key, spec)
        for written, msgs in (overrides or {}).items():
            lang = str(written).replace("-", "_").split("_")[0].lower()
            if lang not in SUPPORTED:
                self.problems.append(MessageProblem("vendor", written, "", (),
                                                    f"unknown locale '{written}' (supported: {', '.join(SUPPORTED)})"))
                continue
            for key, value in (msgs or {}).items():
                self._add_override(written, normalise(written), key, value, known)

    def _add_shipped(self, loc: str, key: str, spec: MessageSpec) -> None:
        names = allowed(self.segment, key)
        for part, source, each in _parts(spec.text, spec):
            problem = template_problem(source, self.segment, key, loc, each)
            if problem:
                self.problems.append(MessageProblem("shipped", loc, key, part, problem))
        try:
            self._compiled[(loc, key)] = _Compiled.of(spec, names)
        except TemplateError as exc:
            raise MessageError(f"shipped message '{key}' ({loc}): {exc}") from None

    def _add_override(self, written: str, loc: str, key: str, value: Any, known: list[str]) -> None:
        if key not in known:
            self.problems.append(MessageProblem(
                "vendor", written, key, (), f"no message '{key}' in segment {self.segment}{hint(key, known)}"))
            return
        try:
            spec = _spec(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            self.problems.append(MessageProblem("vendor", written, key, tuple(err["loc"]), err["msg"]))
            return
        for part, source, each in _parts(value, spec):
            problem = template_problem(source, self.segment, key, loc, each)
            if problem:
                self.problems.append(MessageProblem("vendor", written, key, part, problem))
        shipped = self._compiled.get((loc, key)) or self._compiled.get((DEFAULT, key))
        try:
            self._compiled[(loc, key)] = _Compiled.of(spec, allowed(self.segment, key), shipped)
        except TemplateError:
            return  # already in `problems` as "does not compile"

    def has(self, key: str, locale: str = DEFAULT) -> bool:
        return (normalise(locale), key) in self._compiled or (DEFAULT, key) in self._compiled

    def render(self, key: str, locale: str, variables: Mapping[str, Any]) -> Reply:
        loc = normalise(locale)
        compiled = self._compiled.get((loc, key)) or self._compiled.get((DEFAULT, key))
        if compiled is None:
            raise MessageError(f"no message '{key}' for locale '{loc}'")
        ctx = scope(compiled.names, {**variables, "locale": loc})
        if compiled.shipped is not None:
            try:
                return compiled.render(ctx)
            except Exception as exc:  # untrusted wording: whatever it raises, the buyer gets ours
                detail = f": {exc}" if isinstance(exc, TemplateError) else ""
                log.warning("vendor=%s message=%s locale=%s: vendor wording failed (%s%s); shipped wording sent",
                            self.owner, key, loc, type(exc).__name__, detail)
                compiled = compiled.shipped
        try:
            return compiled.render(ctx)
        except TemplateError as exc:
            raise MessageError(f"message '{key}' ({loc}) does not render: {exc}") from None


__all__ = ["MessageCatalog", "MessageError", "MessageProblem", "MessageSpec", "load_segment", "segment_file"]
