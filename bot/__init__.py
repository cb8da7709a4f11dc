"""The Palabre runtime: settings, app factory, CLI, turn pipeline, delivery, timers, commerce."""
