"""Runtime settings from PALABRE_* environment variables, with embedded defaults."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


def _default_vendors_dir() -> str:
    here = Path(__file__).resolve().parent.parent / "examples" / "vendors"
    return str(here) if here.is_dir() else "vendors"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: str = "./data"
    vendors_dir: str = field(default_factory=_default_vendors_dir)
    mongodb_uri: str | None = None
    mongodb_db: str = "palabre"
    redis_url: str | None = None
    public_url: str | None = None
    sandbox_psp_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    max_body_bytes: int = 1_048_576
    timer_interval: float = 0.5
    outbox_interval: float = 1.0
    outbox_max_attempts: int = 8
    log_level: str = "WARNING"
    # Bearer token of the /api/admin routes; without it the admin API is off.
    admin_token: str | None = field(default=None, repr=False)
    # A Wasender personal access token (account-level, not a session's API key): it is what Wasender's
    # session endpoints accept, used to register a vendor's webhook URL from the admin API.
    wasender_access_token: str | None = field(default=None, repr=False)
    # Where imported Wasender numbers call Wasender (a proxy, or a local fake in tests); None = wasenderapi.com.
    wasender_api_base_url: str | None = None

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> Settings:
        e = os.environ if env is None else env
        values: dict[str, object] = {}
        for name, conv, key in (
            ("host", str, "PALABRE_HOST"),
            ("port", int, "PALABRE_PORT"),
            ("data_dir", str, "PALABRE_DATA_DIR"),
            ("vendors_dir", str, "PALABRE_VENDORS_DIR"),
            ("mongodb_uri", str, "MONGODB_URI"),
            ("mongodb_db", str, "PALABRE_MONGODB_DB"),
            ("redis_url", str, "REDIS_URL"),
            ("public_url", str, "PALABRE_PUBLIC_URL"),
            ("sandbox_psp_secret", str, "PALABRE_SANDBOX_PSP_SECRET"),
            ("max_body_bytes", int, "PALABRE_MAX_BODY_BYTES"),
            ("timer_interval", float, "PALABRE_TIMER_INTERVAL"),
            ("outbox_interval", float, "PALABRE_OUTBOX_INTERVAL"),
            ("log_level", str, "PALABRE_LOG_LEVEL"),
            ("admin_token", str, "PALABRE_ADMIN_TOKEN"),
            ("wasender_access_token", str, "PALABRE_WASENDER_ACCESS_TOKEN"),
            ("wasender_api_base_url", str, "PALABRE_WASENDER_API_BASE_URL"),
        ):
            if e.get(key):
                values[name] = conv(e[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)  # type: ignore[arg-type]
