"""The embedded store acknowledges a write only once it is on stable storage, with one fsync per loop tick."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from channels import Contact, Event
from storage.embedded import EmbeddedStore, StoreLocked

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process under strace: getcwd() calls mark the span of the measured add_events calls.
_INGEST = textwrap.dedent("""
    import asyncio, os, sys
    from channels import Contact, Event
    from storage.embedded import EmbeddedStore

    async def main(data_dir, count):
        store = EmbeddedStore(data_dir, checkpoint_interval=3600)
        await store.start()
        events = [Event(id=f"e{i}", channel="whatsapp", provider="meta", vendor_id="v",
                        contact=Contact(address=f"+22177000{i:04d}"), text="ROBE1") for i in range(count)]
        os.getcwd()
        await asyncio.gather(*(store.add_events([e]) for e in events))
        os.getcwd()
        await store.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


def wal_syncs_while_ingesting(data_dir: Path, count: int) -> int:
    """fsync/fdatasync calls on the WAL made while `count` concurrent add_events ran, in a real process."""
    trace = data_dir.parent / f"strace-{count}.txt"
    subprocess.run(
        ["strace", "-f", "-y", "-qq", "-e", "trace=fsync,fdatasync,getcwd", "-o", str(trace),
         sys.executable, "-c", _INGEST, str(data_dir), str(count)],
        cwd=ROOT, check=True, timeout=60, capture_output=True,
    )
    lines = trace.read_text().splitlines()
    marks = [i for i, line in enumerate(lines) if "getcwd(" in line]
    assert len(marks) >= 2, lines[-20:]
    span = lines[marks[-2]:marks[-1]]
    return sum(1 for line in span if re.search(r"f(data)?sync\(\d+<[^>]*palabre\.sqlite3-wal>", line))


needs_strace = pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")


@needs_strace
def test_acknowledged_events_are_fsynced_before_add_events_returns(tmp_path: Path) -> None:
    assert wal_syncs_while_ingesting(tmp_path / "one", 1) >= 1


@needs_strace
def test_one_fsync_covers_every_event_of_a_loop_tick(tmp_path: Path) -> None:
    single = wal_syncs_while_ingesting(tmp_path / "one", 1)
    fifty = wal_syncs_while_ingesting(tmp_path / "fifty", 50)
    assert 1 <= fifty <= single


async def test_embedded_store_runs_synchronous_full_by_default(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path)
    await store.start()
    try:
        assert store.synchronous == "FULL"
    finally:
        await store.close()


async def acknowledged_but_unreadable(data_dir: Path, count: int, *, one_per_tick: bool) -> list[str]:
    """Events whose add_events returned but another connection could not read them right then."""
    store = EmbeddedStore(data_dir, checkpoint_interval=3600)
    await store.start()
    reader = sqlite3.connect(data_dir / "palabre.sqlite3")
    missing: list[str] = []

    async def ingest(i: int) -> None:
        event = Event(id=f"wamid.{i}", channel="whatsapp", provider="meta", vendor_id="v",
                      contact=Contact(address=f"+22177000{i:04d}"), text="ROBE1")
        assert await store.add_events([event]) == [True]
        if reader.execute("SELECT 1 FROM events WHERE id = ?", (event.id,)).fetchone() is None:
            missing.append(event.id)

    try:
        async with asyncio.timeout(20):
            tasks = []
            for i in range(count):
                tasks.append(asyncio.create_task(ingest(i)))
                if one_per_tick:
                    await asyncio.sleep(0)
            await asyncio.gather(*tasks)
        assert reader.execute("SELECT count(*) FROM events").fetchone()[0] == count
    finally:
        reader.close()
        await store.close()
    return missing


async def test_concurrent_ingests_are_readable_by_another_connection_once_acknowledged(tmp_path: Path) -> None:
    assert await acknowledged_but_unreadable(tmp_path, 50, one_per_tick=False) == []


async def test_writes_arriving_while_an_fsync_runs_are_committed_before_they_are_acknowledged(tmp_path: Path) -> None:
    # One write per loop tick, so most arrive while the previous group's fsync runs in its thread.
    assert await acknowledged_but_unreadable(tmp_path, 300, one_per_tick=True) == []


async def test_checkpoint_io_error_is_retried_and_close_releases_lock(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path, checkpoint_interval=0.02)
    await store.start()
    db = tmp_path / "palabre.sqlite3"
    moved = tmp_path / "moved.sqlite3"
    # A real fault: the database file's path now names a directory, so the checkpointer cannot open it.
    # The store's own connection keeps its open file and still commits into the WAL.
    os.rename(db, moved)
    db.mkdir()
    try:
        async with asyncio.timeout(5):
            while store.fault() is None:
                await asyncio.sleep(0.01)
        assert "checkpoint" in (store.fault() or "")
        errors = store.counters()["palabre_store_checkpoint_errors_total"]
        assert errors >= 1
        event = Event(id="wamid.during", channel="whatsapp", provider="meta", vendor_id="v",
                      contact=Contact(address="+221770000001"), text="ROBE1")
        assert await store.add_events([event]) == [True]
        async with asyncio.timeout(5):
            while store.counters()["palabre_store_checkpoint_errors_total"] == errors:
                await asyncio.sleep(0.01)
    finally:
        db.rmdir()
        os.rename(moved, db)
    async with asyncio.timeout(5):
        while store.fault() is not None:
            await asyncio.sleep(0.01)

    os.rename(db, moved)
    db.mkdir()
    async with asyncio.timeout(5):
        while store.fault() is None:
            await asyncio.sleep(0.01)
    await store.close()
    db.rmdir()
    os.rename(moved, db)
    again = EmbeddedStore(tmp_path)
    try:
        await again.start()
    except StoreLocked:
        pytest.fail("close() after a checkpoint error left the directory locked")
    try:
        assert await again.is_processed("wamid.during") is False
        assert [e.id for e in await again.unprocessed_events()] == ["wamid.during"]
    finally:
        await again.close()


async def test_a_writer_cancelled_while_its_group_commits_leaves_the_others_acknowledged(tmp_path: Path) -> None:
    # The intake gives up on a write after its deadline (the webhook answers 503): that cancellation must not
    # fail the other writers of the same group commit, whose webhooks answer 200.
    store = EmbeddedStore(tmp_path, checkpoint_interval=3600)
    await store.start()
    try:
        events = [Event(id=f"wamid.c{i}", channel="whatsapp", provider="meta", vendor_id="v",
                        contact=Contact(address=f"+22177100{i:04d}"), text="ROBE1") for i in range(20)]
        tasks = [asyncio.create_task(store.add_events([e])) for e in events]
        await asyncio.sleep(0)  # every write made and waiting for the group's commit and fsync
        tasks[0].cancel()
        async with asyncio.timeout(10):
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(outcomes[0], asyncio.CancelledError)
        assert outcomes[1:] == [[True]] * 19
        # The cancelled writer's event was in the group: it is stored like the others (never half a group).
        assert [e.id for e in await store.unprocessed_events()] == [e.id for e in events]
    finally:
        await store.close()
