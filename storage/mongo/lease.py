"""The single-process lease: without Redis nothing shares the work between processes, so one holds it all."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid

from motor.motor_asyncio import AsyncIOMotorCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

LEASE_ID = "single-process"
LEASE_TTL = 30.0

log = logging.getLogger("palabre.storage")


class StoreLeaseHeld(RuntimeError):
    """Another process serves from this database without Redis to coordinate with: refuse to start."""


class SingleProcessLease:
    """One document in `leases`, held by this process and renewed every third of `ttl` until released."""

    def __init__(self, leases: AsyncIOMotorCollection, db_name: str, ttl: float = LEASE_TTL) -> None:
        self._leases = leases
        self._db_name = db_name
        self._ttl = ttl
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self.fault: str | None = None

    async def hold(self) -> None:
        """Take the lease and keep renewing it in the background, or raise StoreLeaseHeld."""
        await self._take()
        self._task = asyncio.create_task(self._keep())

    async def release(self) -> None:
        """Stop renewing and give the lease back, if `hold` took it."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        # Released at once, so that a restart does not wait for the lease to expire.
        with contextlib.suppress(PyMongoError):
            await self._leases.delete_one({"_id": LEASE_ID, "owner": self._owner})

    async def _take(self) -> None:
        """Hold the database's single-process lease, or raise StoreLeaseHeld naming its holder."""
        now = time.time()
        # A lease whose holder stopped renewing it (killed, frozen) is free to take.
        await self._leases.delete_one({"_id": LEASE_ID, "expires_at": {"$lt": now}})
        try:
            await self._leases.insert_one({"_id": LEASE_ID, "owner": self._owner, "host": socket.gethostname(),
                                           "pid": os.getpid(), "expires_at": now + self._ttl})
        except DuplicateKeyError:
            holder = await self._leases.find_one({"_id": LEASE_ID}) or {}
            left = max(0.0, float(holder.get("expires_at", now)) - now)
            raise StoreLeaseHeld(
                f"another Palabre process (host {holder.get('host', '?')}, pid {holder.get('pid', '?')}) serves "
                f"from MongoDB database {self._db_name!r} without REDIS_URL. Several processes must share a "
                f"Redis: set REDIS_URL on every one. Otherwise stop the other process (a dead one's claim "
                f"lapses {left:.0f} s from now)."
            ) from None
        self.fault = None

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                renewed = await self._leases.update_one(
                    {"_id": LEASE_ID, "owner": self._owner},
                    {"$set": {"expires_at": time.time() + self._ttl}},
                )
                if renewed.matched_count == 0:
                    # Lapsed (the database was out of reach, or this process froze): take it again if free.
                    await self._take()
            except StoreLeaseHeld as exc:
                self.fault = "single-process lease lost to another process (REDIS_URL unset)"
                log.error("single-process lease lost: %s", exc)
            except PyMongoError as exc:
                log.warning("single-process lease not renewed: %s", type(exc).__name__)
