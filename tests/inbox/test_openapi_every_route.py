"""Every /api/ route the app registers is in /api/openapi.json, with its path parameters and error answers."""

from __future__ import annotations

from pathlib import Path

from bot.app import create_app
from bot.runtime import Runtime, load_vendors
from bot.settings import Settings
from tests.conftest import EXAMPLES
from tests.inbox.conftest import Inbox


def registered(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path) of every /api/ route of an app built as `palabre run` builds it (never started)."""
    settings = Settings.from_env({}, port=1, data_dir=str(tmp_path / "unused"), vendors_dir=str(EXAMPLES),
                                 admin_token="admin-token-for-openapi-tests-01")
    app = create_app(Runtime(settings, load_vendors(str(EXAMPLES))))
    served = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        # HEAD mirrors GET; a "*" route is a catch-all that answers 404 for what is not served
        if path.startswith("/api/") and route.method not in ("HEAD", "*"):
            served.add((route.method, path))
    return served


async def test_every_registered_api_route_is_documented(inbox: Inbox, tmp_path: Path) -> None:
    doc = await inbox.ok("GET", "/api/openapi.json")
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    served = registered(tmp_path)
    assert len(served) > 50  # the inbox, dashboard, lives, catalogue, campaigns and admin routes
    assert served - documented == set()
    assert documented - served == set()  # nothing documented that is not served
    for path, ops in doc["paths"].items():
        for op in ops.values():
            names = {p["name"] for p in op.get("parameters", [])}
            assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path
            assert {"200", "201"} & op["responses"].keys() and "401" in op["responses"], path


async def test_the_new_commerce_routes_say_what_they_need_and_return(inbox: Inbox) -> None:
    paths = (await inbox.ok("GET", "/api/openapi.json"))["paths"]
    board = paths["/api/dashboard/{vendor}"]["get"]
    assert board["description"] == "Needs the permission `analytics:read`."
    schema = board["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"live", "totals", "stock", "alerts"} <= schema["properties"].keys()
    assert "refunded" in schema["properties"]["totals"]["properties"]
    start = paths["/api/vendors/{vendor}/live/start"]["post"]
    assert start["description"] == "Needs the permission `products:update`." and "201" in start["responses"]
    assert "requestBody" in paths["/api/vendors/{vendor}/products"]["post"]
    done = paths["/api/admin/vendors/{vendor}/refunds/{payment_id}/done"]["post"]
    assert done["description"] == "Needs PALABRE_ADMIN_TOKEN."
