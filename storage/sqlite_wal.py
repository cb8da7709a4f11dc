"""Durable writes on one SQLite connection in WAL mode: group commit, fsync off the loop, supervised checkpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from pathlib import Path

from storage.waiters import settle

log = logging.getLogger(__name__)

# A failing checkpoint is retried with a delay doubling from the interval up to this many intervals.
CHECKPOINT_BACKOFF = 10
# Writers that came in while an fsync ran mean load: their group waits this long for more before it commits
# (PostgreSQL's commit_delay). Fewer, larger groups write each hot page to the WAL and wake the loop less often.
COMMIT_DELAY = 0.001


def _checkpoint(path: Path) -> None:
    """Copy the WAL into the database file, on a connection of its own that lives in this thread only:
    a cancelled waiter then never closes a connection the thread is still using."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout=2000")
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()


class WalWriter:
    """Commits the writes of one event-loop tick together and tells each writer when they are durable.

    Writers run their statements on the loop inside one open transaction, then await `durable()`:
    the transaction is committed at the end of a loop iteration (group commit). With `fsync` (SQLite's
    "FULL" durability) a writer also waits for an fdatasync of the WAL, run in a thread so the loop
    keeps serving; one fsync covers every commit made before it started. While it runs, the next
    ticks' writes stay in one open transaction, committed `COMMIT_DELAY` after it returns (writers still
    coming in join it) and covered by the following fsync: a commit made meanwhile would be durable no
    sooner, and each commit writes every page it dirtied to the WAL again. The connection itself runs
    `synchronous=NORMAL`, which keeps the WAL consistent after a crash and leaves the fsync to us
    (SQLite's own FULL would fsync inside each commit, on the loop). Without `fsync` the given
    `synchronous` applies, a group is committed each loop iteration, and a write survives a crash of the
    process, not of the machine.

    A background task checkpoints the WAL into the database file every `checkpoint_interval`; a
    failure is logged, counted, retried with backoff, and reported by `fault()` until one succeeds.
    """

    def __init__(self, db: sqlite3.Connection, path: Path, *, synchronous: str = "FULL",
                 checkpoint_interval: float = 1.0) -> None:
        self._db = db
        self._path = path
        self._fsync = synchronous.upper() == "FULL"
        self._interval = checkpoint_interval
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={'NORMAL' if self._fsync else synchronous}")
        # Checkpoints copy the WAL into the database file and fsync it: done on the event loop they
        # stall every turn for the fsync, so a background thread with its own connection does them.
        db.execute("PRAGMA wal_autocheckpoint=0")
        self._wal_fd: int | None = None
        # The writers of the open group, then of the commits the running fsync does not cover (storage.waiters).
        self._pending: list[asyncio.Future[None]] | None = None
        self._unsynced: list[asyncio.Future[None]] = []
        self._syncer: asyncio.Task[None] | None = None
        self._syncing = False
        self._checkpointer: asyncio.Task[None] | None = None
        self._checkpoint_fault: str | None = None
        self._checkpoint_errors = 0
        self._fsync_fault: str | None = None
        self._fsync_errors = 0

    def start(self) -> None:
        """Start the checkpointer; call once the database has been written to (the WAL exists)."""
        if self._fsync:
            # The WAL keeps its inode while any connection is open (checkpoints rewind it, never delete
            # it), so one descriptor serves every fsync.
            self._wal_fd = os.open(f"{self._path}-wal", os.O_RDONLY)
            os.fdatasync(self._wal_fd)
        self._checkpointer = asyncio.create_task(self._checkpoint_every())

    @property
    def fsyncs(self) -> bool:
        """Whether an acknowledged write has been fsynced (survives a power cut)."""
        return self._wal_fd is not None

    def fault(self) -> str | None:
        return self._fsync_fault or self._checkpoint_fault

    def counters(self) -> dict[str, float]:
        return {"palabre_store_checkpoint_errors_total": self._checkpoint_errors,
                "palabre_store_fsync_errors_total": self._fsync_errors}

    def durable(self) -> asyncio.Future[None]:
        """What to await for the group commit (and fsync) that includes every write made so far.

        A future, not a coroutine: every write of the store awaits one, and a coroutine around it cost more
        than the wait's own bookkeeping.
        """
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        if self._pending is None:
            self._pending = [waiter]
            if not self._syncing:
                loop.call_soon(self._commit)
        else:
            self._pending.append(waiter)
        return waiter

    def _commit(self) -> None:
        waiters, self._pending = self._pending, None
        assert waiters is not None
        try:
            if self._db.in_transaction:
                self._db.commit()
        except sqlite3.Error as exc:
            # Every writer of this group hears of the failure, so none of their writes may land with a
            # later group's commit.
            with contextlib.suppress(sqlite3.Error):
                if self._db.in_transaction:
                    self._db.rollback()
            settle(waiters, exc)
            return
        if self._wal_fd is None:
            settle(waiters)
            return
        self._unsynced += waiters
        if self._syncer is None or self._syncer.done():
            self._syncer = asyncio.get_running_loop().create_task(self._sync_wal())

    async def _sync_wal(self) -> None:
        """fdatasync the WAL in a thread for every commit made before the call; again while commits wait."""
        self._syncing = True
        try:
            while self._unsynced and self._wal_fd is not None:
                waiters, self._unsynced = self._unsynced, []
                try:
                    await asyncio.to_thread(os.fdatasync, self._wal_fd)
                except OSError as exc:
                    # After a failed fsync the kernel may have dropped the dirty pages, so a later success
                    # proves nothing about these commits: the fault stays until an operator restarts.
                    self._fsync_errors += 1
                    self._fsync_fault = f"WAL fsync failed: {exc}"
                    log.error("fsync of %s-wal failed: %s", self._path, exc)
                    settle(waiters, exc)
                else:
                    settle(waiters)
                if self._pending is not None:  # the writes made during that fsync: the next one covers them
                    await asyncio.sleep(COMMIT_DELAY)
                    self._commit()
        finally:
            self._syncing = False
            if self._pending is not None:  # left by an error or a cancellation: committed as before
                asyncio.get_running_loop().call_soon(self._commit)

    async def _checkpoint_every(self) -> None:
        delay = self._interval
        while True:
            await asyncio.sleep(delay)
            try:
                await asyncio.to_thread(_checkpoint, self._path)
            except Exception as exc:
                # Writes stay durable in the WAL meanwhile, but it grows without bound: an operator must
                # see this, and a load balancer should stop sending traffic.
                self._checkpoint_errors += 1
                self._checkpoint_fault = f"WAL checkpoint failing: {exc}"
                log.error("WAL checkpoint of %s failed (%s); retrying in %.1f s", self._path, exc, delay)
                delay = min(delay * 2, self._interval * CHECKPOINT_BACKOFF)
            else:
                if self._checkpoint_fault is not None:
                    log.warning("WAL checkpoint of %s works again", self._path)
                self._checkpoint_fault = None
                delay = self._interval

    async def close(self) -> None:
        """Stop checkpointing, answer every waiting writer, then commit, fsync and checkpoint what is left.

        Never raises for an I/O error: what was committed stays in the WAL, which the next start replays.
        The connection stays open (its owner closes it).
        """
        try:
            if self._checkpointer is not None:
                self._checkpointer.cancel()
                # gather, unlike awaiting the task, still raises if *this* task is being cancelled.
                await asyncio.gather(self._checkpointer, return_exceptions=True)
                self._checkpointer = None
            if self._syncer is not None:
                await asyncio.gather(self._syncer, return_exceptions=True)
                self._syncer = None
            try:
                if self._db.in_transaction:
                    self._db.commit()
                if self._wal_fd is not None:
                    os.fdatasync(self._wal_fd)
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except (sqlite3.Error, OSError):
                log.exception("final WAL checkpoint of %s failed", self._path)
        finally:
            if self._wal_fd is not None:
                os.close(self._wal_fd)
                self._wal_fd = None
