"""The dashboard routes fuzzed in token, path and query against a real server: no answer is ever ≥ 500.

The event stream is left out: a good request to it never ends by design.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bot.test_fuzz_http import ThreadServer, call, header_bytes, odd_values, path_segment
from tests.inbox.test_inbox_fuzz import server  # a server with an admin's token and a conversation in it

__all__ = ["server"]

EXAMPLES_PER_ROUTE = int(os.environ.get("PALABRE_FUZZ_EXAMPLES", "60"))
ROUTES = ["/dashboard/{vendor}", "/api/dashboard/{vendor}", "/api/dashboard/{vendor}/buyer",
          "/api/dashboard/{vendor}/elsewhere"]
QUERY = st.sampled_from([b"since", b"order", b"conversation", b"x"])


@pytest.mark.parametrize("route", ROUTES)
@settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_dashboard_routes_never_answer_5xx(server: tuple[ThreadServer, str], route: str, data: st.DataObject) -> None:
    srv, token = server
    path = route.encode().replace(b"{vendor}", path_segment(data, "demo"))
    for _ in range(data.draw(st.integers(0, 3))):
        value = data.draw(st.sampled_from([b"1", b"nan", b"-1e400", b"demo:web:%2B221770000001", b"%ED%A0%80", b""]))
        path += (b"&" if b"?" in path else b"?") + data.draw(QUERY) + b"=" + value
    headers: list[tuple[bytes, bytes]] = []
    auth = data.draw(st.sampled_from(["good", "absent", "odd", "junk"]))
    if auth == "good":
        headers.append((b"Authorization", f"Bearer {token}".encode()))
    elif auth == "odd":
        headers.append((b"Authorization", data.draw(odd_values)))
    elif auth == "junk":
        headers.append((b"Authorization", data.draw(header_bytes)))
    status = call(srv.port, "GET", path, headers)
    assert status < 500, (path, headers, status)
