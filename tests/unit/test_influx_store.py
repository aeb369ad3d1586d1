"""InfluxStore request shapes and error mapping, against an httpx.MockTransport (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from citytraffic.storage.influx import InfluxStore, StoreQueryError, quote_ident
from citytraffic.storage.points import Point, make_tags
from citytraffic.storage.port import PointsRejected, StoreAuthError, StoreUnavailable

Handler = Callable[[httpx.Request], httpx.Response]


def _store(handler: Handler, **kwargs: object) -> InfluxStore:
    return InfluxStore(
        "http://influx.test:8086/",
        "db",
        create_database=False,
        transport=httpx.MockTransport(handler),
        **kwargs,  # type: ignore[arg-type]
    )


POINT = Point("m", make_tags(site="a b"), {"v": 1.5}, 7)


def test_write_posts_line_protocol_with_ns_precision() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    store = _store(handler, username="u", password="p")
    store.write([POINT])
    store.write([])  # nothing to send
    request = seen[0]
    assert len(seen) == 1
    assert request.url.path == "/write"
    assert dict(request.url.params) == {"db": "db", "precision": "ns"}
    assert request.content == b"m,site=a\\ b v=1.5 7"
    assert request.headers["authorization"].startswith("Basic ")
    assert "p=" not in str(request.url)  # the password is not in the URL


def test_token_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    _store(handler, token="tok-123").write_lines(b"m v=1 1")
    assert seen[0].headers["authorization"] == "Token tok-123"


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (400, {"error": "partial write: field type conflict dropped=1"}, PointsRejected, "type"),
        (400, {"error": "unable to parse 'x': bad"}, PointsRejected, "unable to parse"),
        (413, {"error": "Request Entity Too Large"}, PointsRejected, "Too Large"),
        (401, {"error": "authorization failed"}, StoreAuthError, "authorization failed"),
        (403, {"error": "not authorized to write"}, StoreAuthError, "not authorized"),
        (404, {"error": 'database not found: "db"'}, StoreUnavailable, "database not found"),
        (500, {"error": "engine: cache-max-memory-size exceeded"}, StoreUnavailable, "500"),
        (503, None, StoreUnavailable, "503"),
    ],
)
def test_write_error_mapping(status: int, body: object, error: type[Exception], match: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body) if body else httpx.Response(status)

    with pytest.raises(error, match=match):
        _store(handler).write([POINT])


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
def test_transport_errors_are_unavailable(exc: Exception) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    store = _store(handler)
    with pytest.raises(StoreUnavailable):
        store.write([POINT])
    with pytest.raises(StoreUnavailable):
        store.count("m", "v", 0, 10)
    assert not store.ping()


def test_queries_bind_user_values() -> None:
    forms: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        forms.append(form)
        return httpx.Response(200, json={"results": [{"statement_id": 0}]})

    store = _store(handler)
    evil = "x' OR time > 0 --"
    assert store.count("m", "v", 10, 20, tags={"site": evil}) == 0
    form = forms[0]
    assert evil not in form["q"][0]
    assert form["q"][0] == (
        'SELECT count("v") FROM "m" WHERE time >= $start_ns AND time < $end_ns AND "site" = $t0'
    )
    assert json.loads(form["params"][0]) == {"start_ns": 10, "end_ns": 20, "t0": evil}
    assert form["epoch"] == ["ns"] and form["db"] == ["db"]


def test_query_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        q = parse_qs(request.content.decode())["q"][0]
        if "count" in q:
            return httpx.Response(400, json={"error": "error parsing query: bad"})
        return httpx.Response(200, json={"results": [{"statement_id": 0, "error": "boom"}]})

    store = _store(handler)
    with pytest.raises(StoreQueryError, match="error parsing query"):
        store.count("m", "v", 0, 10)
    with pytest.raises(StoreQueryError, match="boom"):
        store.latest("m", 0)


def test_quote_ident() -> None:
    assert quote_ident("plain") == '"plain"'
    assert quote_ident('a"b') == '"a\\"b"'
    assert quote_ident("a\\b") == '"a\\\\b"'
    with pytest.raises(ValueError):
        quote_ident("")
