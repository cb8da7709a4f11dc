"""The handoff inbox: agents and roles, inbox threads, canned replies, live updates, the API and the page."""

from bot.inbox.service import Inbox

__all__ = ["Inbox"]
