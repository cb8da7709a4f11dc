"""Runtime settings from PALABRE_* environment variables, with embedded defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


def _default_vendors_dir() -> str:
    here = Path(__file__).resolve().parent.parent / "examples" / "vendors"
    return str(here) if here.is_dir() else "vendors"


ENVIRONMENTS = ("development", "production")
# The server's event loop: uvloop where it is installed (Linux, macOS), else asyncio's; see docs/decisions.md.
EVENT_LOOPS = ("auto", "uvloop", "asyncio")


@dataclass(frozen=True)
class Settings:
    # development (the default, what `make run` gives a newcomer): simulator and sandbox PSP served.
    # production: neither, unless PALABRE_SIMULATOR_TOKEN protects the simulator; see docs/decisions.md.
    environment: str = "development"
    # Bearer token that turns the simulator on in production (and then guards it).
    simulator_token: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "./data"
    vendors_dir: str = field(default_factory=_default_vendors_dir)
    mongodb_uri: str | None = None
    mongodb_db: str = "palabre"
    # e.g. "w=majority&j=true&wtimeout=10000"; unset: the URI's own, else majority + journaled.
    mongodb_write_concern: str | None = None
    redis_url: str | None = None
    public_url: str | None = None
    sandbox_psp_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    max_body_bytes: int = 1_048_576
    timer_interval: float = 0.5
    outbox_interval: float = 1.0
    outbox_max_attempts: int = 8
    # Attempts at a turn failing with a permanent error before its event becomes a dead letter.
    turn_max_attempts: int = 3
    # With REDIS_URL: the Redis Stream partitions the work is spread over (conversations hash onto them;
    # one process consumes each at a time). 0 keeps the per-conversation Redis lock path instead.
    partitions: int = 64
    # Seconds a dead process keeps its partitions before another takes them over (renewed every third).
    lease_ttl: float = 10.0
    # Serialise stock updates through a Redis lock per product: only for a store whose single-document
    # updates are not atomic across connections (FerretDB v1, CI's stand-in); MongoDB needs none.
    stock_lock: bool = False
    log_level: str = "WARNING"
    event_loop: str = "auto"
    # Bearer token of the /api/admin routes; without it the admin API is off.
    admin_token: str | None = field(default=None, repr=False)
    # A Wasender personal access token (account-level, not a session's API key): it is what Wasender's
    # session endpoints accept, used to register a vendor's webhook URL from the admin API.
    wasender_access_token: str | None = field(default=None, repr=False)
    # Where imported Wasender numbers call Wasender (a proxy, or a local fake in tests); None = wasenderapi.com.
    wasender_api_base_url: str | None = None
    # The shared Meta webhook (/webhooks/meta) of a platform with one Meta app for many vendors: that app's
    # secret (signs every POST) and the verify token typed in its dashboard. Unset: the route answers 404.
    meta_app_secret: str | None = field(default=None, repr=False)
    meta_verify_token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise ValueError(f"PALABRE_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.environment!r}")
        if self.event_loop not in EVENT_LOOPS:
            raise ValueError(f"PALABRE_LOOP must be one of {', '.join(EVENT_LOOPS)}, not {self.event_loop!r}")

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def no_local_store(self, file_name: str) -> str | None:
        """Why a reading command should stop: the embedded store's file is absent (a mistyped --data-dir
        would otherwise get a new, empty store and report "nothing"); None with MongoDB or the file there."""
        if self.mongodb_uri or (Path(self.data_dir) / file_name).exists():
            return None
        return f"no Palabre store in {self.data_dir}: give the server's --data-dir (or PALABRE_DATA_DIR)"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        e = os.environ if env is None else env
        values: dict[str, object] = {}
        for name, conv, key in (
            ("environment", lambda v: v.strip().lower(), "PALABRE_ENV"),
            ("simulator_token", str, "PALABRE_SIMULATOR_TOKEN"),
            ("host", str, "PALABRE_HOST"),
            ("port", int, "PALABRE_PORT"),
            ("data_dir", str, "PALABRE_DATA_DIR"),
            ("vendors_dir", str, "PALABRE_VENDORS_DIR"),
            ("mongodb_uri", str, "MONGODB_URI"),
            ("mongodb_db", str, "PALABRE_MONGODB_DB"),
            ("mongodb_write_concern", str, "PALABRE_MONGODB_WRITE_CONCERN"),
            ("redis_url", str, "REDIS_URL"),
            ("public_url", str, "PALABRE_PUBLIC_URL"),
            ("sandbox_psp_secret", str, "PALABRE_SANDBOX_PSP_SECRET"),
            ("max_body_bytes", int, "PALABRE_MAX_BODY_BYTES"),
            ("timer_interval", float, "PALABRE_TIMER_INTERVAL"),
            ("outbox_interval", float, "PALABRE_OUTBOX_INTERVAL"),
            ("turn_max_attempts", int, "PALABRE_TURN_MAX_ATTEMPTS"),
            ("partitions", int, "PALABRE_PARTITIONS"),
            ("lease_ttl", float, "PALABRE_LEASE_TTL"),
            ("stock_lock", lambda v: v.strip().lower() in ("1", "true", "yes", "on"), "PALABRE_STOCK_LOCK"),
            ("log_level", str, "PALABRE_LOG_LEVEL"),
            ("event_loop", lambda v: v.strip().lower(), "PALABRE_LOOP"),
            ("admin_token", str, "PALABRE_ADMIN_TOKEN"),
            ("wasender_access_token", str, "PALABRE_WASENDER_ACCESS_TOKEN"),
            ("wasender_api_base_url", str, "PALABRE_WASENDER_API_BASE_URL"),
            ("meta_app_secret", str, "PALABRE_META_APP_SECRET"),
            ("meta_verify_token", str, "PALABRE_META_VERIFY_TOKEN"),
        ):
            if e.get(key):
                values[name] = conv(e[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)  # type: ignore[arg-type]
