"""Tests of the handoff inbox: users and roles, the API, live updates, the page."""
