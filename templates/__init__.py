"""Message templates: per segment and locale, Jinja2 text with buttons, overridable by vendors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, StrictUndefined, Template, TemplateError
from pydantic import BaseModel, Field

from channels import Button, Reply
from locales import DEFAULT, clock, money, normalise

HERE = Path(__file__).parent


class MessageSpec(BaseModel):
    text: str
    buttons: list[Button] = Field(default_factory=list)


class MessageError(ValueError):
    """A message template that is missing or does not render."""


def _env() -> Environment:
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
    env.filters["money"] = money
    env.filters["clock"] = clock
    return env


def load_segment(segment: str) -> dict[str, dict[str, MessageSpec]]:
    """The shipped messages of a segment: {locale: {key: MessageSpec}}."""
    out: dict[str, dict[str, MessageSpec]] = {}
    for path in sorted((HERE / segment).glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out[path.stem] = {k: _spec(v) for k, v in raw.items()}
    return out


def _spec(value: Any) -> MessageSpec:
    return MessageSpec(text=value) if isinstance(value, str) else MessageSpec.model_validate(value)


class MessageCatalog:
    """Compiled messages for one vendor: the segment's wording with the vendor's overrides on top.

    Templates are compiled once here, so rendering a reply costs one Jinja2 render.
    """

    def __init__(
        self,
        base: Mapping[str, Mapping[str, MessageSpec]],
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        env = _env()
        self._compiled: dict[tuple[str, str], tuple[Template, list[tuple[str, Template]]]] = {}
        merged: dict[str, dict[str, MessageSpec]] = {loc: dict(msgs) for loc, msgs in base.items()}
        for loc, msgs in (overrides or {}).items():
            merged.setdefault(normalise(loc), {}).update({k: _spec(v) for k, v in msgs.items()})
        for loc, msgs in merged.items():
            for key, spec in msgs.items():
                try:
                    self._compiled[(loc, key)] = (
                        env.from_string(spec.text),
                        [(b.id, env.from_string(b.title)) for b in spec.buttons],
                    )
                except TemplateError as exc:
                    raise MessageError(f"message '{key}' ({loc}): {exc}") from None

    def has(self, key: str, locale: str = DEFAULT) -> bool:
        return (normalise(locale), key) in self._compiled or (DEFAULT, key) in self._compiled

    def render(self, key: str, locale: str, variables: Mapping[str, Any]) -> Reply:
        loc = normalise(locale)
        compiled = self._compiled.get((loc, key)) or self._compiled.get((DEFAULT, key))
        if compiled is None:
            raise MessageError(f"no message '{key}' for locale '{loc}'")
        text_t, buttons = compiled
        ctx = {**variables, "locale": loc}
        try:
            text = text_t.render(ctx).strip()
            return Reply(text=text, buttons=[Button(id=i, title=t.render(ctx)) for i, t in buttons])
        except TemplateError as exc:
            raise MessageError(f"message '{key}' ({loc}) does not render: {exc}") from None


__all__ = ["MessageCatalog", "MessageError", "MessageSpec", "load_segment"]
