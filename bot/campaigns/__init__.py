"""Campaigns: contacts, segments, templates, opt-out and paced broadcasts that survive a restart."""
