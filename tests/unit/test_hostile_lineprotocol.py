"""Hostile input to the line-protocol writers: any text in any name, tag, field key or string
value, any number, any time. `LineEncoder` either refuses the point (LineProtocolError) or writes
one line that the strict reference parser reads back as exactly that point; the ingest hot path
(`LineBuilder`), given detector batches whose ids and strings skipped the decoder's checks,
does the same. No input gives an extra point, a changed tag or a crash."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.hostile import expected_points, same_points
from support.lineparser import LineSyntaxError, parse_line
from support.strategies import finite, mostly, names, tags_text, times, values, writable_text

from citytraffic.messaging import payloads
from citytraffic.storage.lineprotocol import LineEncoder, LineProtocolError
from citytraffic.storage.points import FieldValue, Point
from ingest.lines import LineBuilder


@settings(max_examples=600, deadline=None)
@given(
    measurement=names,
    tags=st.dictionaries(tags_text, tags_text, max_size=4),
    fields=st.dictionaries(names, values, min_size=1, max_size=4),
    time_ns=times,
)
def test_encoder_refuses_or_round_trips_exactly(
    measurement: str, tags: dict[str, str], fields: dict[str, FieldValue], time_ns: int
) -> None:
    point = Point(measurement, tuple(sorted(tags.items())), fields, time_ns)
    try:
        line = LineEncoder().line(point)
    except LineProtocolError:
        return
    assert "\n" not in line
    try:
        got = parse_line(line)
    except LineSyntaxError as exc:
        pytest.fail(f"encoder wrote an ambiguous line {line!r} for {point!r}: {exc}")
    m, t, f, stamp = got
    assert (m, t, stamp) == (measurement, tags, time_ns)
    assert {k: (type(v), v) for k, v in f.items()} == {k: (type(v), v) for k, v in fields.items()}


@settings(max_examples=300, deadline=None)
@given(
    site=tags_text,
    gateway=writable_text,
    detectors=st.lists(tags_text, min_size=1, max_size=4, unique=True),
    count=st.one_of(st.none(), st.integers(-(2**31), 2**31)),
    number=st.one_of(st.none(), mostly(finite, st.floats())),
    ts=st.datetimes(datetime(1677, 9, 22), datetime(2262, 4, 11), timezones=st.just(UTC)),
)
def test_line_builder_refuses_or_writes_exactly_one_point_per_reading(
    site: str,
    gateway: str,
    detectors: list[str],
    count: int | None,
    number: float | None,
    ts: datetime,
) -> None:
    readings = [payloads.DetectorValue(d, count, number, number) for d in detectors]
    batch = payloads.DetectorBatch(gateway, 7, site, ts, 30, readings)
    try:
        lines = LineBuilder().lines(batch, 0)
    except LineProtocolError:
        return
    assert len(lines) == len(readings) and all("\n" not in line for line in lines)
    parsed = [parse_line(line) for line in lines]
    assert same_points(parsed, expected_points(batch, 0)), lines
    assert number is None or math.isfinite(number)


@pytest.mark.parametrize(
    "site",
    ["J1\nweather,site=x temp=1", "J1 count=1i", "J1,site=J2", "J1=x", "J1\\", "J1\r", "#J1"],
)
def test_injection_attempts_in_a_site_never_make_another_point(site: str) -> None:
    batch = payloads.DetectorBatch(
        "gw", 1, site, datetime(2026, 1, 1, tzinfo=UTC), 30, [payloads.DetectorValue("D1", 1)]
    )
    try:
        lines = LineBuilder().lines(batch, 0)
    except LineProtocolError:
        return
    (line,) = lines
    assert parse_line(line)[1] == {"detector": "D1", "site": site}


def test_a_lone_surrogate_is_refused_not_a_crash() -> None:
    with pytest.raises(LineProtocolError):
        LineEncoder().encode([Point("m", (), {"s": "\ud800"}, 1)])
