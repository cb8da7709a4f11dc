"""The registry of actions and conditions dialogs may name: built-ins plus what the operator plugs in.

Operator settings (environment), never vendor YAML:
- `PALABRE_ACTIONS`: comma-separated Python modules. A module's `register(registry)` is called, and
  its rasa-sdk `Action` / `FormValidationAction` classes are registered by their `name()` and run in
  this process.
- `PALABRE_ACTION_ENDPOINT` (a rasa-sdk action server's webhook, e.g. http://127.0.0.1:5055/webhook)
  with `PALABRE_REMOTE_ACTIONS` (the action names to run there) and `PALABRE_ACTION_TIMEOUT`
  (seconds, default 5).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping

from bot import commerce
from bot.commerce import booking
from bot.quotes import actions as quotes
from dialogs import DialogError, Registry
from dialogs.rasa import InProcessActions, RemoteActions


class ActionsConfigError(DialogError):
    """Operator action settings that cannot be used (a module that does not import, a bad URL)."""


def _names(value: str | None) -> list[str]:
    return [n.strip() for n in (value or "").split(",") if n.strip()]


def build_registry(env: Mapping[str, str] | None = None) -> Registry:
    """Built-in commerce actions, then the operator's modules, then remote actions (later names win)."""
    env = os.environ if env is None else env
    registry = quotes.register(booking.register(commerce.register(Registry())))
    modules = _names(env.get("PALABRE_ACTIONS"))
    if modules and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())  # operator modules resolve from the working directory, as in uvicorn/gunicorn
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise ActionsConfigError(f"PALABRE_ACTIONS: cannot import {name!r}: {exc}") from None
        register = getattr(module, "register", None)
        if callable(register):
            register(registry)
    if modules:
        InProcessActions(modules).register(registry)
    endpoint = env.get("PALABRE_ACTION_ENDPOINT")
    if endpoint:
        if not endpoint.startswith(("http://", "https://")):
            raise ActionsConfigError("PALABRE_ACTION_ENDPOINT must be an http(s) URL")
        try:
            timeout = float(env.get("PALABRE_ACTION_TIMEOUT", "5"))
        except ValueError:
            raise ActionsConfigError("PALABRE_ACTION_TIMEOUT must be a number of seconds") from None
        RemoteActions(endpoint, _names(env.get("PALABRE_REMOTE_ACTIONS")), timeout).register(registry)
    return registry
