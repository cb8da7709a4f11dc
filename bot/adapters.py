"""The channel adapters Palabre knows, by provider name, and what the runtime takes from each.

Each `channels.<provider>` module offers `Config` (the vendor YAML's `channels.<provider>` block,
a pydantic model) and `make_sender(config) -> Sender`; each `bot.http.webhooks.<provider>` module offers
`routes()`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

PROVIDERS = ("telegram", "meta", "wasender", "twilio", "email")


def channel_module(provider: str) -> ModuleType:
    return importlib.import_module(f"channels.{provider}")


def webhook_module(provider: str) -> ModuleType:
    return importlib.import_module(f"bot.http.webhooks.{provider}")
