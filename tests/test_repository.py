"""The README's two commands work from a plain clone: no `../shared` beside it, no needless reinstall."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_a_clone_collects_every_test_without_shared_beside_it(tmp_path: Path) -> None:
    clone = tmp_path / "palabre"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=60)
    assert not (tmp_path / "shared").exists()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=clone, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "error" not in done.stdout.lower().splitlines()[-1]


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists() or shutil.which("make") is None,
                    reason="the venv was not made by `make`")
def test_make_run_does_not_reinstall_when_nothing_changed() -> None:
    # `make -q` answers 0 only when the target is up to date, i.e. `make run` would go straight to serving.
    done = subprocess.run(["make", "-q", "install"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
