"""The `nlu` section of a vendor's YAML: the vendor's own examples and product synonyms.

    nlu:
      examples:                 # more training examples, per intent (added to the built-in ones)
        product_info: ["c'est du wax hollandais ?", "ça tient au lavage ?"]
        buy: ["je prends la rouge", "mets m'en 2"]
      synonyms:                 # words buyers use for a product -> its code
        ROBE1: [robe ankara, la wax]
        SAC2: [sacoche, sac marron]
      threshold: 0.45           # optional: below this classifier confidence, out_of_scope
      rasa:                     # optional: ask a Rasa server first (the local parser answers if it fails)
        url: http://rasa:5005
        timeout: 0.5

Codes named in `synonyms` must be in the vendor's catalogue (checked when the parser is built).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intents.lexicon import INTENT_ALIASES, INTENTS

_MAX_EXAMPLES = 2000


class RasaOptions(BaseModel):
    """A Rasa server's `/model/parse`, for teams that already run Rasa."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://")
    timeout: float = Field(default=0.5, gt=0, le=10)


class NluOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    examples: dict[str, list[str]] = Field(default_factory=dict)
    synonyms: dict[str, list[str]] = Field(default_factory=dict)
    threshold: float | None = Field(default=None, gt=0, lt=1)
    rasa: RasaOptions | None = None

    @field_validator("examples")
    @classmethod
    def _examples(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for intent, texts in value.items():
            name = INTENT_ALIASES.get(intent, intent)
            if name not in INTENTS:
                raise ValueError(f"unknown intent {intent!r}; known: {', '.join(INTENTS)}")
            cleaned = [text.strip() for text in texts if text.strip()]
            out.setdefault(name, []).extend(cleaned)
        if sum(len(texts) for texts in out.values()) > _MAX_EXAMPLES:
            raise ValueError(f"at most {_MAX_EXAMPLES} examples")
        return out

    @field_validator("synonyms")
    @classmethod
    def _synonyms(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for code, phrases in value.items():
            cleaned = [phrase.strip() for phrase in phrases if phrase.strip()]
            if not cleaned:
                raise ValueError(f"synonyms of {code} are empty")
            out[code.upper()] = cleaned
        return out
