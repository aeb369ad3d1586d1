"""/api/v1/history: aligned buckets, and a clear 4xx for every bad parameter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from api.app import create_app
from api.models import HistoryOut
from api.routes.history import parse_time_ns, parse_window_s
from api.testing import ManualClock, SwitchableStore, key_headers, reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, Settings
from citytraffic.storage.sqlite import SqliteStore

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
T0 = int(datetime(2025, 3, 3, 8, 0, tzinfo=UTC).timestamp()) * NS  # a multiple of 300 s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SwitchableStore]:
    inner = SqliteStore(tmp_path / "store.sqlite")
    # J1-W-1: one reading a minute from 08:01 to 08:10 (ts = end of interval), count = minute
    inner.write(
        [
            reading_point(
                "J1", "J1-W-1", T0 + m * 60 * NS, count=m, occupancy=m / 100, speed_kmh=30.0 + m
            )
            for m in range(1, 11)
        ]
        + [reading_point("J1", "J1-W-2", T0 + 60 * NS, count=99)]  # another detector
    )
    yield SwitchableStore(inner)
    inner.close()


@pytest.fixture
def client(store: SwitchableStore, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path,
        api=ApiSettings(snapshot_refresh_s=600, max_history_s=86_400, max_history_buckets=100),
    )
    app = create_app(settings, store, load_network(EXAMPLE), clock_ns=ManualClock(T0))
    with TestClient(app, headers=key_headers(settings)) as c:  # history is operator-only
        yield c


def get(client: TestClient, **params: str) -> tuple[int, object]:
    r = client.get("/api/v1/history", params=params)
    return r.status_code, r.json()


def test_buckets_sum_counts_average_the_rest_and_derive_flow(client: TestClient) -> None:
    status, body = get(
        client,
        detector="J1-W-1",
        start="2025-03-03T08:00:00Z",
        end="2025-03-03T08:15:00Z",
        window="5min",
    )
    assert status == 200
    out = HistoryOut.model_validate(body)
    assert (out.detector, out.site, out.link, out.lane, out.window_s) == (
        "J1-W-1",
        "J1",
        "L_W_J1",
        1,
        300,
    )
    assert (out.start, out.end) == ("2025-03-03T08:00:00Z", "2025-03-03T08:15:00Z")
    assert [b.start for b in out.buckets] == [
        "2025-03-03T08:00:00Z",
        "2025-03-03T08:05:00Z",
        "2025-03-03T08:10:00Z",
    ]
    first, second, third = out.buckets
    assert (first.count, first.covered_s, first.flow_vph) == (1 + 2 + 3 + 4, 240, 150.0)
    assert first.occupancy == pytest.approx(0.025) and first.speed_kmh == pytest.approx(32.5)
    assert (second.count, second.covered_s, second.flow_vph) == (5 + 6 + 7 + 8 + 9, 300, 420.0)
    assert (third.count, third.covered_s, third.flow_vph) == (10, 60, 600.0)


def test_window_forms_and_empty_buckets_omitted(client: TestClient) -> None:
    common = {"detector": "J1-W-1", "start": "2025-03-03T07:00:00Z", "end": "2025-03-03T09:00Z"}
    for window in ("3600", "3600s", "60min", "1h", "1H"):
        status, body = get(client, window=window, **common)
        assert status == 200, (window, body)
        assert isinstance(body, dict) and body["window_s"] == 3600
        assert [b["count"] for b in body["buckets"]] == [55]  # 07:00 bucket empty, omitted


def test_offsets_are_honoured(client: TestClient) -> None:
    status, body = get(
        client,
        detector="J1-W-1",
        start="2025-03-03T09:00:00+01:00",
        end="2025-03-03T09:03:00+01:00",
        window="60",
    )
    assert status == 200 and isinstance(body, dict)
    assert [b["count"] for b in body["buckets"]] == [1, 2]  # 08:01, 08:02 (end exclusive)
    assert body["start"] == "2025-03-03T08:00:00Z"


def test_defaults_are_the_last_hour_in_5_minute_buckets(client: TestClient) -> None:
    status, body = get(client, detector="J1-W-1", end="2025-03-03T08:10:30Z")
    assert status == 200 and isinstance(body, dict)
    assert body["start"] == "2025-03-03T07:10:30Z" and body["window_s"] == 300
    assert sum(b["count"] for b in body["buckets"]) == 55
    status, body = get(client, detector="J1-W-1")  # end = now (the app's clock: 08:00)
    assert status == 200 and isinstance(body, dict)
    assert (body["start"], body["end"]) == ("2025-03-03T07:00:00Z", "2025-03-03T08:00:00Z")
    assert body["buckets"] == []
    status, body = get(client, detector="J1-W-1", start="2025-03-03T07:59:00Z")
    assert status == 200 and isinstance(body, dict) and body["end"] == "2025-03-03T08:00:00Z"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (
            {"start": "2025-03-03T08:00:00", "end": "2025-03-03T09:00:00Z"},
            "start: '2025-03-03T08:00:00' has no timezone (add Z or an offset such as +01:00)",
        ),
        (
            {"start": "yesterday", "end": "2025-03-03T09:00:00Z"},
            "start: 'yesterday' is not an ISO 8601 / RFC 3339 time",
        ),
        (
            {"start": "2025-03-03T08:00:00 01:00", "end": "2025-03-03T09:00:00Z"},
            "(a '+' in a URL must be sent as %2B)",
        ),
        (
            {"start": "1969-12-31T23:00:00Z", "end": "2025-03-03T09:00:00Z"},
            "start: '1969-12-31T23:00:00Z' is outside 1970..2200",
        ),
        (
            {"start": "2025-03-03T09:00:00Z", "end": "2025-03-03T09:00:00Z"},
            "end must be after start",
        ),
        (
            {"start": "2025-03-03T10:00:00Z", "end": "2025-03-03T09:00:00Z"},
            "end must be after start",
        ),
        (
            {"start": "2025-03-01T00:00:00Z", "end": "2025-03-03T09:00:00Z", "window": "1h"},
            "range of 205200 s exceeds 86400 s",
        ),
        (
            {"start": "2025-03-03T00:00:00Z", "end": "2025-03-03T09:00:00Z", "window": "60"},
            "540 buckets of 60 s exceed 100 (use a wider window or a shorter range)",
        ),
        (
            {"start": "2025-03-03T08:00:00Z", "end": "2025-03-03T09:00:00Z", "window": "5x"},
            "window: '5x' is not a duration (use seconds such as 60, or 30s, 5min, 1h, 1d)",
        ),
        (
            {"start": "2025-03-03T08:00:00Z", "end": "2025-03-03T09:00:00Z", "window": "0"},
            "window: 0 s is outside 1..86400 s",
        ),
        (
            {"start": "2025-03-03T08:00:00Z", "end": "2025-03-03T09:00:00Z", "window": "2d"},
            "window: 172800 s is outside 1..86400 s",
        ),
        (
            {"start": "2025-03-03T08:00:00Z", "end": "2025-03-03T09:00:00Z", "window": "-60"},
            "window: '-60' is not a duration",
        ),
    ],
)
def test_bad_parameters_answer_400_with_a_clear_detail(
    client: TestClient, params: dict[str, str], expected: str
) -> None:
    status, body = get(client, detector="J1-W-1", **params)
    assert status == 400, body
    assert isinstance(body, dict) and list(body) == ["detail"]
    assert expected in body["detail"]


def test_every_bad_parameter_is_named_at_once(client: TestClient) -> None:
    status, body = get(client, detector="J1-W-1", start="x", end="2025-03-03T09:00", window="y")
    assert status == 400 and isinstance(body, dict)
    detail = body["detail"]
    assert detail.count("; ") == 2
    assert "start: 'x'" in detail and "end: '2025-03-03T09:00' has no" in detail
    assert "window: 'y'" in detail


def test_unknown_detector_is_404_and_missing_detector_422(client: TestClient) -> None:
    status, body = get(
        client, detector="nope", start="2025-03-03T08:00:00Z", end="2025-03-03T09:00:00Z"
    )
    assert (status, body) == (404, {"detail": "unknown detector 'nope'"})
    status, _ = get(client, start="2025-03-03T08:00:00Z")
    assert status == 422


def test_store_outage_is_503(client: TestClient, store: SwitchableStore) -> None:
    store.down = True
    status, body = get(
        client, detector="J1-W-1", start="2025-03-03T08:00:00Z", end="2025-03-03T09:00:00Z"
    )
    assert status == 503 and isinstance(body, dict)
    assert body["detail"].startswith("the store cannot answer")


def test_parsers_directly() -> None:
    assert parse_window_s(" 15 s ") == 15
    assert parse_window_s("1d") == 86_400
    assert parse_time_ns("t", "1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_time_ns("t", "2025-03-03T08:00:00.000001+00:00") == T0 + 1000


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    start=st.one_of(st.none(), st.text(max_size=70), st.datetimes().map(datetime.isoformat)),
    end=st.one_of(
        st.none(),
        st.text(max_size=70),
        st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    ),
    window=st.one_of(st.text(max_size=40), st.integers(-10, 10**12).map(str)),
)
def test_no_parameter_makes_a_5xx(
    client: TestClient, start: str | None, end: str | None, window: str
) -> None:
    params = {"detector": "J1-W-1", "window": window}
    params.update({k: v for k, v in (("start", start), ("end", end)) if v is not None})
    r = client.get("/api/v1/history", params=params)
    assert r.status_code in (200, 400, 422), r.text
    if r.status_code == 400:
        assert isinstance(r.json()["detail"], str)
