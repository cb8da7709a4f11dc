"""`python -m bot` is the `palabre` command."""

from bot.cli import main

raise SystemExit(main())
