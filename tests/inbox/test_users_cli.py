"""`palabre users add|list|revoke`: a token printed once, stored only hashed, refused once revoked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, ServerFactory


def palabre(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI on the embedded stores of `--data-dir`, whatever MONGODB_URI the test run has."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PALABRE_") and k not in ("MONGODB_URI", "REDIS_URL")}
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_users_add_prints_a_token_once_and_stores_only_its_hash(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    done = palabre("users", "add", "awa", "--role", "support", "--vendor", "demo", "--data-dir", data)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("plb_") and len(token) > 40
    assert "shown only this once" in done.stderr
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir())
    assert token.encode() not in stored
    listing = palabre("users", "list", "--data-dir", data)
    assert listing.returncode == 0 and "awa" in listing.stdout and "support" in listing.stdout
    assert token not in listing.stdout
    again = palabre("users", "add", "awa", "--role", "admin", "--data-dir", data)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_users_add_refuses_unknown_roles_and_vendors(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    bad_role = palabre("users", "add", "awa", "--role", "boss", "--data-dir", data)
    assert bad_role.returncode == 2 and "invalid choice" in bad_role.stderr
    bad_vendor = palabre("users", "add", "awa", "--role", "support", "--vendor", "nowhere", "--data-dir", data)
    assert bad_vendor.returncode == 1 and "unknown vendor(s): nowhere" in bad_vendor.stderr
    assert palabre("users", "revoke", "nobody", "--data-dir", data).returncode == 1


def test_users_list_on_a_mistyped_data_dir_says_so_instead_of_no_users(tmp_path: Path) -> None:
    typo = tmp_path / "dta"
    for args in (("users", "list"), ("users", "revoke", "awa")):
        done = palabre(*args, "--data-dir", str(typo))
        assert done.returncode == 2 and f"no Palabre store in {typo}" in done.stderr, done
        assert "no users yet" not in done.stdout
    assert not typo.exists()  # a reading command creates no empty store


async def test_a_token_from_the_cli_works_while_the_server_runs_until_revoked(start_server: ServerFactory) -> None:
    server = await start_server()
    data = str(server.runtime.settings.data_dir)
    done = palabre("users", "add", "awa", "--role", "support", "--vendor", "demo", "--data-dir", data)
    assert done.returncode == 0, done.stderr
    headers = {"Authorization": f"Bearer {done.stdout.strip()}"}
    async with server.http.get(f"{server.url}/api/inbox/me", headers=headers) as r:
        assert r.status == 200 and (await r.json())["role"] == "support"
    assert palabre("users", "revoke", "awa", "--data-dir", data).returncode == 0
    async with server.http.get(f"{server.url}/api/inbox/me", headers=headers) as r:
        assert r.status == 401
