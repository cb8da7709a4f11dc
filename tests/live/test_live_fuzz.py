"""The live and product routes fuzzed in body, headers and path on a real server: no answer is ever ≥ 500."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.bot.test_bad_input import ADMIN_TOKEN
from tests.bot.test_fuzz_http import (
    FUZZ,
    SEEN,
    ThreadServer,
    assert_no_5xx,
    headers_for,
    json_body,
    path_segment,
    server,  # noqa: F401 - the fixture
)

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")
PRODUCTS = [{"code": "JUPE3", "name": "Jupe", "price": 9000, "stock": 4}, {"price": 12000}, {"stock": 3},
            {"name": "Robe", "price": 1, "stock": 0}]


@FUZZ
@given(data=st.data())
def test_live_and_product_routes_never_answer_5xx(server: ThreadServer, data: st.DataObject) -> None:  # noqa: F811
    headers = headers_for(data, b"application/json", b"Authorization", f"Bearer {ADMIN_TOKEN}".encode())
    base = b"/api/vendors/" + path_segment(data, "demo")
    route = data.draw(st.sampled_from(["live", "start", "stop", "list", "add", "change", "remove"]))
    code = path_segment(data, data.draw(st.sampled_from(["ROBE1", "SAC2", "JUPE3", "NOPE9"])))
    if route == "live":
        assert_no_5xx(server, "GET", base + b"/live", headers)
    elif route in ("start", "stop"):
        assert_no_5xx(server, "POST", base + b"/live/" + route.encode(), headers)
    elif route == "list":
        assert_no_5xx(server, "GET", base + b"/products", headers)
    elif route == "add":
        assert_no_5xx(server, "POST", base + b"/products", headers, json_body(data, PRODUCTS))
    elif route == "change":
        assert_no_5xx(server, "PATCH", base + b"/products/" + code, headers, json_body(data, PRODUCTS))
    else:
        assert_no_5xx(server, "DELETE", base + b"/products/" + code, headers)


def test_the_fuzz_reached_past_authentication() -> None:
    seen = {s for name, statuses in SEEN.items() if "test_live_and_product_routes" in name for s in statuses}
    if not seen:
        pytest.skip("run with the fuzz test of this module")
    assert any(200 <= s < 300 for s in seen), seen
