"""Imported numbers in running processes: giving them to the vendors, and following imports made by other processes."""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot.numbers.csv_import import PROVIDER, ImportReport, import_numbers
from channels import wasender
from channels.base import mask_address
from storage import ChannelAccount

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("palabre.numbers")

# How often a process coordinated through Redis checks whether another one imported numbers.
FOLLOW_INTERVAL = 1.0
# The import stamp outlives any deployment's uptime between two imports; once gone, nothing is lost:
# a missing stamp reads as "changed", which costs one re-apply of the stored numbers.
STAMP_TTL = 30 * 24 * 3600.0


@dataclass
class _Applied:
    labels: dict[str, str | None] = field(default_factory=dict)  # vendor -> business name, if imported
    yaml_noted: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    stamp: str | None = None  # the last import this process has applied (the coordinator's stamp)


_APPLIED: weakref.WeakKeyDictionary[Runtime, _Applied] = weakref.WeakKeyDictionary()


def _applied(rt: Runtime) -> _Applied:
    state = _APPLIED.get(rt)
    if state is None:
        state = _APPLIED[rt] = _Applied()
    return state


def imported_vendors(rt: Runtime) -> dict[str, str | None]:
    """Vendors whose Wasender number came from an import, with its business name."""
    return dict(_applied(rt).labels)


def _config_for(rt: Runtime, account: ChannelAccount) -> wasender.Config | None:
    settings = dict(account.settings)
    if rt.settings.wasender_api_base_url:
        settings.setdefault("api_base_url", rt.settings.wasender_api_base_url)
    try:
        return wasender.Config.model_validate(settings)
    except ValidationError as exc:
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})) or "settings"
        log.warning("vendor=%s: stored wasender number ignored: invalid %s", account.vendor_id, fields)
        return None


def _taken_by(vendor_id: str, config: wasender.Config, configs: dict[str, Any]) -> str | None:
    """The other vendor whose Wasender config (in `configs`, by vendor) has this number or instance id."""
    for other_id, theirs in configs.items():
        if other_id == vendor_id or not isinstance(theirs, wasender.Config):
            continue
        if theirs.phone_number == config.phone_number or (
                config.instance_id and theirs.instance_id == config.instance_id):
            return other_id
    return None


async def _swap_sender(rt: Runtime, vendor_id: str, old: wasender.Config | None, new: wasender.Config) -> None:
    key = f"{PROVIDER}:{vendor_id}"
    if old is not None and key in rt.senders and (old.api_key, old.api_base_url) == (new.api_key, new.api_base_url):
        return  # same session: keep its sender and any rate-limit wait it is observing
    previous = rt.senders.get(key)
    # Delivery reads this same dict, so the next send of this vendor already uses the new key.
    rt.senders[key] = wasender.make_sender(new)
    close = getattr(previous, "close", None)
    if close is not None:
        await close()


async def apply_accounts(rt: Runtime, accounts: Iterable[ChannelAccount]) -> list[str]:
    """Give each account's vendor its imported number: channel config, sender, fresh vendor lookups.

    A vendor whose YAML has a `channels.wasender` block keeps it (logged once); an account whose number
    or instance id another vendor has, or gets in this batch, is skipped with a warning. Returns the
    vendors changed.
    """
    state = _applied(rt)
    planned: dict[str, tuple[ChannelAccount, wasender.Config]] = {}
    for account in accounts:
        if account.provider != PROVIDER:
            continue
        vendor = rt.vendors.get(account.vendor_id)
        if vendor is None:
            log.info("imported wasender number of vendor=%s ignored: no such vendor is loaded", account.vendor_id)
            continue
        if vendor.config.channels.get(PROVIDER) is not None and vendor.id not in state.labels:
            if vendor.id not in state.yaml_noted:
                state.yaml_noted.add(vendor.id)
                log.warning("vendor=%s: the channels.wasender block of %s wins over its imported number",
                            vendor.id, vendor.source)
            continue
        config = _config_for(rt, account)
        if config is not None:
            planned[vendor.id] = (account, config)
    # Compare with the numbers as they will be once the whole batch is in, so that two vendors can swap
    # numbers in one file; dropping an account keeps that vendor's old number, which may clash in turn.
    while True:
        future = {vid: planned[vid][1] if vid in planned else v.config.channels.get(PROVIDER)
                  for vid, v in rt.vendors.items()}
        clashes = {vid: owner for vid, (_, config) in planned.items() if (owner := _taken_by(vid, config, future))}
        if not clashes:
            break
        for vid, owner in clashes.items():
            log.warning("vendor=%s: imported wasender number %s ignored: vendor=%s uses it too",
                        vid, mask_address(planned.pop(vid)[1].phone_number), owner)
    touched: list[str | None] = []
    for vendor_id, (account, config) in planned.items():
        current = rt.vendors[vendor_id].config.channels.get(PROVIDER)
        old = current if isinstance(current, wasender.Config) else None
        rt.vendors[vendor_id].config.channels[PROVIDER] = config
        state.labels[vendor_id] = account.label
        await _swap_sender(rt, vendor_id, old, config)
        for c in (old, config):
            if c is not None:
                touched += [c.phone_number, c.instance_id, c.api_key]
        log.info("vendor=%s uses the imported wasender number %s", vendor_id, mask_address(config.phone_number))
    if touched:
        # Imported here: bot.http.webhooks.wasender imports bot.runtime, which imports this module.
        from bot.http.webhooks.wasender import refresh_lookups

        await refresh_lookups(rt, touched)
    return list(planned)


async def apply_stored(rt: Runtime) -> list[str]:
    """At start-up: every vendor without a YAML Wasender block gets its imported number, if it has one."""
    state = _applied(rt)
    # Read before the accounts: an import landing in between changes the stamp, and is applied again.
    state.stamp = await _read_stamp(rt)
    return await apply_accounts(rt, await rt.store.channel_accounts(PROVIDER))


async def follow_imports(rt: Runtime) -> list[str]:
    """Apply the stored numbers again if another process imported some since this one last did.

    Run every FOLLOW_INTERVAL by each process coordinated through Redis: an import on any process then
    reaches every process's running vendors within about a second.
    """
    state = _applied(rt)
    stamp = await rt.coordinator.cache_get(_stamp_key(rt))
    if stamp is None or stamp == state.stamp:
        return []
    async with state.lock:
        state.stamp = stamp
        changed = await apply_accounts(rt, await rt.store.channel_accounts(PROVIDER))
    if changed:
        log.info("numbers imported by another process applied here: %d vendor(s)", len(changed))
    return changed


async def import_and_apply(rt: Runtime, data: bytes) -> ImportReport:
    """Import a CSV into a running server's store and use the new numbers at once."""
    state = _applied(rt)
    async with state.lock:  # two imports at once would each check against a state the other changes
        report = await import_numbers(data, rt.vendors, rt.store, imported=set(state.labels))
        await apply_accounts(rt, report.accounts)
        if report.accounts:
            await _announce(rt, state)
    return report


def _stamp_key(rt: Runtime) -> str:
    from bot.runtime import cluster_name  # bot.runtime imports this module

    return f"numbers-import:{cluster_name(rt.settings)}"


async def _read_stamp(rt: Runtime) -> str | None:
    try:
        return await rt.coordinator.cache_get(_stamp_key(rt))
    except Exception as exc:  # Redis down at start-up: the follower applies the stored numbers once it answers
        log.warning("could not read the numbers import stamp (%s)", type(exc).__name__)
        return None


async def _announce(rt: Runtime, state: _Applied) -> None:
    """Tell the other processes (through the coordinator) that the stored numbers changed."""
    stamp = uuid.uuid4().hex
    try:
        await rt.coordinator.cache_set(_stamp_key(rt), stamp, STAMP_TTL)
    except Exception as exc:
        log.warning("numbers imported here but not announced to other processes (%s): they use them once "
                    "restarted or after the next import", type(exc).__name__)
        return
    state.stamp = stamp
