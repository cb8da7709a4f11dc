"""Tests of bot/live: live sessions, the vendor's own number, summaries, the catalogue by the vendor."""
