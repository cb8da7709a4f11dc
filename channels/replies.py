"""The outbound `Reply`: channel-neutral content that each adapter renders as it can."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Button(BaseModel):
    id: str
    title: str


class ListRow(BaseModel):
    id: str
    title: str
    description: str | None = None


class ListSection(BaseModel):
    title: str
    rows: list[ListRow]


class TemplateRef(BaseModel):
    name: str
    language: str = "fr"
    parameters: list[str] = Field(default_factory=list)


class Reply(BaseModel):
    """What the bot says; routing fields are filled by the pipeline before delivery."""

    text: str | None = None
    buttons: list[Button] = Field(default_factory=list)
    list_sections: list[ListSection] = Field(default_factory=list)
    media_url: str | None = None
    link: str | None = None
    template: TemplateRef | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """The JSON shown to API clients: only the fields that carry content."""
        out: dict[str, Any] = {"text": self.text}
        if self.buttons:
            out["buttons"] = [b.model_dump() for b in self.buttons]
        if self.list_sections:
            out["list"] = [s.model_dump() for s in self.list_sections]
        for name in ("media_url", "link"):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out
