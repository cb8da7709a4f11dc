"""Importing contact lists: E.164 numbers, de-duplication, attributes, tags, opt-in, rejected rows, export."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from openpyxl import Workbook

from bot.cli import main
from tests.campaigns.conftest import AUTH, TOKEN
from tests.conftest import ServerFactory

ROWS = """Téléphone;Nom;E-mail;Tags;Opt-in;Ville
77 123 45 67;Awa Diop;awa@example.sn;vip, dakar;oui;Dakar
+221 76 000 00 01;Moussa;;dakar;non;Thiès
0044 20 7946 0958;John;;london;;London
12;Fatou;;;oui;
;Sans adresse;;;;
77 123 45 67;Awa encore;;;;
771234568;Binta;binta-at-example;;;
771234569;Khady;;;peut-être;
"""


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_every_rejected_row_is_reported_with_its_line_and_reason(start_server: ServerFactory) -> None:
    server = await start_server(admin_token=TOKEN)
    async with server.http.post(f"{server.url}/api/vendors/demo/contacts/import?default_region=SN",
                                data=ROWS.encode("cp1252"), headers=AUTH) as r:
        assert r.status == 200
        report = await r.json()
    assert (report["rows"], report["created"]) == (8, 3)
    assert {(x["line"], x["reason"]) for x in report["rejected"]} == {
        (5, "not a valid number for its country"),
        (6, "no phone, e-mail or Telegram id"),
        (7, "duplicate of line 2"),
        (8, "not an e-mail address"),
        (9, "opt-in must be yes/no (oui/non, 1/0), not 'peut-être'"),
    }
    async with server.http.get(f"{server.url}/api/vendors/demo/contacts/export", headers=AUTH) as r:
        exported = list(csv.DictReader(io.StringIO(await r.text())))
    by_phone = {row["phone"]: row for row in exported}
    assert set(by_phone) == {"+221771234567", "+221760000001", "+442079460958"}
    awa = by_phone["+221771234567"]
    assert (awa["name"], awa["email"], awa["tags"], awa["opt_in"], awa["ville"]) == \
        ("Awa Diop", "awa@example.sn", "vip;dakar", "yes", "Dakar")
    assert by_phone["+221760000001"]["opt_in"] == "no" and by_phone["+442079460958"]["opt_in"] == ""


async def test_a_number_without_country_code_needs_a_default_region(start_server: ServerFactory) -> None:
    server = await start_server(admin_token=TOKEN)
    async with server.http.post(f"{server.url}/api/vendors/demo/contacts/import",
                                data=b"phone\n771234567\n+221771234568\n", headers=AUTH) as r:
        report = await r.json()
    assert report["created"] == 1
    assert report["rejected"] == [{"line": 2, "reason": "no country code (+221…) and no --default-region"}]


@pytest.mark.parametrize(("body", "message"), [
    (b"", "the file is empty"),
    (b"nom;ville\nAwa;Dakar\n", "no address column"),
    (b"PK\x03\x04broken", "not a readable .xlsx workbook"),
])
async def test_an_unusable_file_is_refused_with_a_reason(start_server: ServerFactory, body: bytes,
                                                         message: str) -> None:
    server = await start_server(admin_token=TOKEN)
    async with server.http.post(f"{server.url}/api/vendors/demo/contacts/import", data=body, headers=AUTH) as r:
        assert r.status == 400
        error = (await r.json())["error"]
    assert error["code"] == "invalid_file" and message in error["message"]


async def test_contacts_need_the_admin_token_or_a_role_that_may(start_server: ServerFactory) -> None:
    server = await start_server(admin_token=TOKEN)
    async with server.http.post(f"{server.url}/api/vendors/demo/contacts/import", data=b"phone\n+221771234567\n",
                                headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
    async with server.http.get(f"{server.url}/api/vendors/nobody/contacts/export", headers=AUTH) as r:
        assert r.status == 404


def test_the_cli_imports_an_xlsx_with_a_progress_bar_and_lists_rejections(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    sheet = tmp_path / "clients.xlsx"
    # Excel stores a typed number as a float: 221771234567.0 must still be a phone number.
    sheet.write_bytes(xlsx([["phone", "name", "tags", "opt_in", "points"],
                            [221771234567, "Awa", "vip", "yes", 12],
                            ["not a number", "Moussa", "", "", ""],
                            ["+221 77 123 45 68", "Binta", "vip;new", 1, ""]]))
    args = ["--vendors", "examples/vendors", "--data-dir", str(tmp_path / "data")]
    code = main(["import-contacts", str(sheet), "--vendor", "demo", "--default-region", "SN", *args])
    out, err = capsys.readouterr()
    assert code == 1  # some rows rejected
    assert "3 rows: 2 contacts created, 0 updated, 1 rejected" in out
    assert "line 3: not a phone number" in out
    assert "importing [" in err and "2/2" in err
    assert main(["export-contacts", "--vendor", "demo", "-o", str(tmp_path / "out.csv"), *args]) == 0
    exported = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert sorted((r["phone"], r["tags"], r["opt_in"], r["points"]) for r in exported) == \
        [("+221771234567", "vip", "yes", "12"), ("+221771234568", "vip;new", "yes", "")]


def test_an_exported_name_cannot_run_as_a_spreadsheet_formula(tmp_path: Path) -> None:
    source = tmp_path / "c.csv"
    source.write_text("phone,name\n+221771234567,=HYPERLINK(\"http://x\")\n", encoding="utf-8")
    args = ["--vendors", "examples/vendors", "--data-dir", str(tmp_path / "data")]
    assert main(["import-contacts", str(source), "--vendor", "demo", *args]) == 0
    assert main(["export-contacts", "--vendor", "demo", "-o", str(tmp_path / "out.csv"), *args]) == 0
    [row] = list(csv.DictReader((tmp_path / "out.csv").open(encoding="utf-8")))
    assert row["name"].startswith("'=") and row["phone"] == "+221771234567"


async def test_export_contacts_reads_a_server_data_dir_and_refuses_a_mistyped_one(
        start_server: ServerFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)  # the embedded stores, whatever the test run has
    server = await start_server()
    args = ["export-contacts", "--vendor", "demo", "--vendors", "examples/vendors"]
    assert await asyncio.to_thread(main, [*args, "--data-dir", str(server.runtime.settings.data_dir)]) == 0
    assert capsys.readouterr().out.startswith("phone,email,telegram,name")
    assert await asyncio.to_thread(main, [*args, "--data-dir", str(tmp_path / "dta")]) == 2
    assert f"no Palabre store in {tmp_path / 'dta'}" in capsys.readouterr().err
    assert not (tmp_path / "dta").exists()


async def test_an_import_past_the_plan_contact_quota_imports_nothing(start_server: ServerFactory) -> None:
    server = await start_server(admin_token=TOKEN)
    api = f"{server.url}/api/vendors/demo"
    async with server.http.put(f"{api}/campaign-settings", json={"plan": {"contacts": 2}}, headers=AUTH) as r:
        assert r.status == 200
    async with server.http.post(f"{api}/contacts/import", data=b"phone\n+221771234567\n", headers=AUTH) as r:
        assert (await r.json())["created"] == 1
    three = b"phone\n+221771234567\n+221771234568\n+221771234569\n"
    async with server.http.post(f"{api}/contacts/import", data=three, headers=AUTH) as r:
        assert r.status == 402
        error = (await r.json())["error"]
    assert error["code"] == "quota_exceeded" and "allows 2 contacts: 1 stored, this file adds 2" in error["message"]
    async with server.http.get(f"{api}/contacts/export", headers=AUTH) as r:
        assert (await r.text()).count("+221") == 1


async def test_inbox_users_reach_contacts_as_their_role_allows(start_server: ServerFactory) -> None:
    from bot.inbox.users import add_user

    server = await start_server(admin_token=TOKEN)
    store = server.runtime.inbox.store
    manager = await add_user(store, "mariama", "manager", ["demo"])
    admin = await add_user(store, "awa", "admin", ["demo"])
    elsewhere = await add_user(store, "ousmane", "admin", ["other"])
    api = f"{server.url}/api/vendors/demo/contacts"

    async def status(method: str, path: str, token: str) -> int:
        async with server.http.request(method, f"{api}/{path}", data=b"phone\n+221771234567\n",
                                       headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status

    assert await status("POST", "import", admin) == 200
    assert await status("GET", "export", manager) == 200
    assert await status("POST", "import", manager) == 403  # a manager reads contacts, does not import them
    assert await status("GET", "export", elsewhere) == 404  # another vendor's contacts do not exist for them
