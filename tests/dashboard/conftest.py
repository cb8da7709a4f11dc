"""Dashboard fixtures: the inbox's server with one user per role for the demo vendor, and its SSE reader."""

from tests.inbox.conftest import Inbox, inbox, next_event

__all__ = ["Inbox", "inbox", "next_event"]
