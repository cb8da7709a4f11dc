"""Channels: the one normalised Event/Reply vocabulary and one adapter per provider."""

from channels.events import Contact, Event, EventKind, Location, Media
from channels.replies import Button, ListRow, ListSection, Reply, TemplateRef

__all__ = [
    "Button",
    "Contact",
    "Event",
    "EventKind",
    "ListRow",
    "ListSection",
    "Location",
    "Media",
    "Reply",
    "TemplateRef",
]
