"""The hot-path line builder writes exactly what the reference conversion + LineEncoder write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citytraffic.messaging import payloads
from citytraffic.storage.lineprotocol import LineEncoder, LineProtocolError
from ingest.convert import to_points
from ingest.lines import LineBuilder

ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,10}\Z")
floats = st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 1.0]))
values = st.builds(
    payloads.DetectorValue,
    detector=ids,
    count=st.one_of(st.none(), st.integers(-(2**31), 2**31)),
    occupancy=floats,
    speed_kmh=floats,
)
times = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def batches(draw: st.DrawFn) -> payloads.DetectorBatch:
    readings = draw(st.lists(values, min_size=1, max_size=12, unique_by=lambda v: v.detector))
    return payloads.DetectorBatch(
        gateway=draw(ids),
        seq=draw(st.integers(0, 2**63 - 1)),
        site=draw(ids),
        ts=draw(times),
        interval_s=draw(st.integers(1, 3600)),
        readings=readings,
    )


@settings(max_examples=300, deadline=None)
@given(batches())
def test_detector_lines_equal_reference(batch: payloads.DetectorBatch) -> None:
    expected = [LineEncoder().line(p) for p in to_points(batch, 0)]
    assert LineBuilder().lines(batch, 0) == expected


def test_other_messages_use_the_reference_path() -> None:
    t = datetime(2024, 5, 1, tzinfo=UTC)
    sig = payloads.SignalState("gw1", 2, "J1", t, "P 1", "2", "GGrr")
    assert LineBuilder().lines(sig, 0) == [LineEncoder().line(p) for p in to_points(sig, 0)]
    assert 'plan="P 1"' in LineBuilder().lines(sig, 0)[0]


def test_timestamp_outside_int64_is_refused() -> None:
    old = payloads.DetectorBatch(
        "gw1", 1, "J1", datetime(1600, 1, 1, tzinfo=UTC), 30, [payloads.DetectorValue("D1")]
    )
    with pytest.raises(LineProtocolError):
        LineBuilder().lines(old, 0)
    fine = payloads.DetectorBatch(
        "gw1",
        1,
        "J1",
        datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=1),
        30,
        [payloads.DetectorValue("D1")],
    )
    assert LineBuilder().lines(fine, 0)[0].endswith(" 946684800000001000")
