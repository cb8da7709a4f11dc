"""Development and production modes: what each serves, and what production refuses to start with."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping

from bot.settings import Settings
from bot.vendors import Vendor

log = logging.getLogger("palabre")

# PSPs that move no real money: a development tool, never a production checkout.
TEST_PSPS = frozenset({"sandbox"})


class StartupRefused(SystemExit):
    """The configuration must not be served; the message says why and what to change (exit status 1)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def serves_simulator(settings: Settings) -> bool:
    return not settings.production or bool(settings.simulator_token)


def serves_sandbox_psp(settings: Settings) -> bool:
    return not settings.production


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_startup(settings: Settings, vendors: Mapping[str, Vendor]) -> None:
    """Refuse production with a test PSP; warn loudly when development tools are reachable from the network."""
    if settings.production:
        sandboxed = sorted(v.id for v in vendors.values() if v.config.psp.provider in TEST_PSPS)
        if sandboxed:
            raise StartupRefused(
                f"PALABRE_ENV=production refuses vendor(s) {', '.join(sandboxed)}: their psp is 'sandbox', which "
                "takes no real money and would confirm orders nobody paid. Give each a real provider in its "
                "vendor file (psp: {provider: bictorys | wave | paydunya, ...}, secrets as ${ENV} references; "
                "see docs/payments.md), or run in development mode (unset PALABRE_ENV) for demos and tests.")
        return
    if not _loopback(settings.host):
        log.warning("DEVELOPMENT MODE on %s: the simulator and the sandbox PSP (which marks orders paid with no "
                    "money) are served to anyone who reaches this address. Set PALABRE_ENV=production for a real "
                    "deployment.", settings.host)
