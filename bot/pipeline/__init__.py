"""The turn pipeline: durable intake, per-conversation ordering, one dialog step, one write per turn,
retries of transient failures, and dead letters for the rest."""

from bot.pipeline.courtesy import APOLOGY, HOLD_ON
from bot.pipeline.failures import Backoff, is_transient
from bot.pipeline.runner import IntakeUnavailable, Pipeline

__all__ = ["APOLOGY", "HOLD_ON", "Backoff", "IntakeUnavailable", "Pipeline", "is_transient"]
