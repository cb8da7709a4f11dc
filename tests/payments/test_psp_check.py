"""`palabre check` on a vendor's psp block: each provider's account validated, secrets never in clear."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, vendor_dir
from tests.payments.fakepsp import ENV, psp_block


def check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ENV}
    return subprocess.run([sys.executable, "-m", "bot", "check", str(path)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**base, **(env if env is not None else ENV)})


def where(path: Path, needle: str) -> str:
    """`line:column` of the first `needle` in the file, as check reports positions."""
    return next(f"{i}:{s.index(needle) + 1}" for i, s in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in s)


@pytest.mark.parametrize("provider", ["bictorys", "wave", "paydunya", "flutterwave", "cinetpay"])
def test_check_accepts_each_provider_with_secrets_from_the_environment(tmp_path: Path, provider: str) -> None:
    result = check(vendor_dir(tmp_path, psp=psp_block(provider, "https://api.example.com")))
    assert result.returncode == 0, result.stderr


def test_check_refuses_a_secret_written_in_clear(tmp_path: Path) -> None:
    block = {**psp_block("wave", "https://api.wave.com"), "webhook_secret": "wave_sn_WHS_in_clear_1234"}
    f = vendor_dir(tmp_path, psp=block) / "demo.yaml"
    result = check(f)
    assert result.returncode == 1
    assert f"{f}:{where(f, 'webhook_secret:')}: psp.webhook_secret: write the secret as an ${{ENV_VAR}}" \
        in result.stderr
    assert "wave_sn_WHS_in_clear_1234" not in result.stderr + result.stdout


def test_check_names_the_missing_environment_variable(tmp_path: Path) -> None:
    f = vendor_dir(tmp_path, psp=psp_block("bictorys", "https://api.test.bictorys.com")) / "demo.yaml"
    result = check(f, env={k: v for k, v in ENV.items() if k != "BICTORYS_SECRET_KEY"})
    assert result.returncode == 1 and "BICTORYS_SECRET_KEY" in result.stderr and "not set" in result.stderr


@pytest.mark.parametrize(("change", "message"), [
    ({"base_url": "http://api.example.com"}, "base_url must use https"),
    ({"provider": "paypal"}, "psp"),
    ({"api_key": None}, "psp.bictorys.api_key"),
    ({"country": "senegal"}, "psp.bictorys.country"),
    ({"colour": "blue"}, "psp.bictorys.colour"),
])
def test_check_refuses_a_broken_psp_block(tmp_path: Path, change: dict, message: str) -> None:
    block = {k: v for k, v in {**psp_block("bictorys", "https://api.test.bictorys.com"), **change}.items()
             if v is not None}
    result = check(vendor_dir(tmp_path, psp=block))
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_sandbox_is_still_the_default(tmp_path: Path) -> None:
    assert check(vendor_dir(tmp_path, psp="sandbox")).returncode == 0


@pytest.mark.parametrize(("provider", "change", "message"), [
    ("flutterwave", {"customer_email": None}, "psp.flutterwave.customer_email"),
    ("flutterwave", {"customer_email": "not-an-address"}, "psp.flutterwave.customer_email"),
    ("flutterwave", {"secret_hash": "flw-hash-written-in-clear"}, "psp.secret_hash: write the secret as an"),
    ("cinetpay", {"site_id": "abc"}, "psp.cinetpay.site_id"),
    ("cinetpay", {"apikey": "cinetpay-apikey-in-clear"}, "psp.apikey: write the secret as an"),
    ("cinetpay", {"secret_key": None}, "psp.cinetpay.secret_key"),
])
def test_check_refuses_a_broken_flutterwave_or_cinetpay_block(tmp_path: Path, provider: str, change: dict,
                                                             message: str) -> None:
    block = {k: v for k, v in {**psp_block(provider, "https://api.example.com"), **change}.items() if v is not None}
    result = check(vendor_dir(tmp_path, psp=block))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "in-clear" not in result.stderr + result.stdout
