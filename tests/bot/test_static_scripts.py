"""The pages' shared scripts under /static/: served by name as JavaScript, nothing else of bot/static exposed."""

from __future__ import annotations

from tests.conftest import ServerFactory


async def test_the_live_update_script_is_served_as_javascript_and_revalidated(start_server: ServerFactory) -> None:
    server = await start_server()
    async with server.http.get(f"{server.url}/static/events.js") as r:
        assert r.status == 200
        assert r.content_type == "text/javascript"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Cache-Control"] == "no-cache"
        assert "async function followEvents(" in await r.text()
        etag = r.headers["ETag"]
    async with server.http.get(f"{server.url}/static/events.js", headers={"If-None-Match": etag}) as again:
        assert again.status == 304


async def test_pages_templates_and_other_files_are_not_served_as_static(start_server: ServerFactory) -> None:
    server = await start_server()
    for path in ("/static/dashboard.html", "/static/nothing.js", "/static/..%2Fapp.py", "/static/"):
        async with server.http.get(f"{server.url}{path}") as r:
            assert r.status == 404, path
            assert r.content_type == "application/json", path
            assert (await r.json())["error"]["code"] == "not_found", path


async def test_both_live_pages_load_the_script_and_their_policy_allows_it(start_server: ServerFactory) -> None:
    server = await start_server()
    for path in ("/inbox", "/dashboard/demo"):
        async with server.http.get(f"{server.url}{path}") as r:
            assert r.status == 200, path
            assert '<script src="/static/events.js"></script>' in await r.text(), path
            policy = r.headers["Content-Security-Policy"]
            scripts = next(d for d in policy.split(";") if d.strip().startswith("script-src")).split()
            assert "'self'" in scripts, (path, policy)
