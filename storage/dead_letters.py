"""Dead letters: events whose turn failed for good, kept with their error until an operator replays them."""

from __future__ import annotations

import json
import time

from pydantic import BaseModel, Field

ERROR_LIMIT = 500


class DeadLetter(BaseModel):
    """An event set aside after its turn failed `attempts` times (or after it could not be loaded).

    The event itself stays in the inbox, marked processed, so a duplicate delivery of it is not
    processed again; replaying it marks it unprocessed and queues it.
    """

    event_id: str
    vendor_id: str = ""
    conversation_id: str = ""
    kind: str = ""
    error: str
    attempts: int = 0
    dead_at: float = Field(default_factory=time.time)


def unloadable(event_id: str, body: object, exc: Exception) -> DeadLetter:
    """The dead letter of a stored event that no longer validates (e.g. a non-finite number)."""
    raw: dict[str, object] = {}
    if isinstance(body, dict):
        raw = body
    elif isinstance(body, str | bytes):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        raw = parsed if isinstance(parsed, dict) else {}
    vendor = raw.get("vendor_id")
    kind = raw.get("kind")
    error = f"cannot be loaded: {type(exc).__name__}: {exc}"
    return DeadLetter(event_id=event_id, vendor_id=vendor if isinstance(vendor, str) else "",
                      kind=kind if isinstance(kind, str) else "", error=error[:ERROR_LIMIT])
