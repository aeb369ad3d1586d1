"""The hot-path line builder writes exactly what the reference conversion + LineEncoder write."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citytraffic.domain.quality import RangeLimits
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


# Values at and around every range-check boundary, all present (the builder's inlined checks).
near = st.sampled_from([0.0, -0.0, 1e-9, -1e-9, 0.5, 1.0, 1.0000000001, 57.3, 200.0, 200.1])
counts = st.one_of(st.integers(-2, 30), st.sampled_from([2**31, -(2**31), 25, 26, 100, 101]))
limits = st.builds(
    RangeLimits,
    max_speed_kmh=st.sampled_from([200.0, 57.3, 0.0, -1.0]),
    max_flow_vph_per_lane=st.sampled_from([3000.0, 12000.0, 0.0, -5.0]),
)


@st.composite
def full_batches(draw: st.DrawFn) -> payloads.DetectorBatch:
    n = draw(st.integers(1, 12))
    readings = [
        payloads.DetectorValue(
            f"D{i}",
            count=draw(counts),
            occupancy=draw(st.one_of(near, st.floats(-2, 2, allow_nan=False))),
            speed_kmh=draw(st.one_of(near, st.floats(-10, 300, allow_nan=False))),
        )
        for i in range(n)
    ]
    ts = datetime(2024, 5, 1, tzinfo=UTC)
    return payloads.DetectorBatch(
        "gw1", 1, "J1", ts, draw(st.sampled_from([1, 30, 3600])), readings
    )


@settings(max_examples=400, deadline=None)
@given(full_batches(), limits)
def test_inlined_range_checks_equal_range_flags(
    batch: payloads.DetectorBatch, limits: RangeLimits
) -> None:
    expected = [LineEncoder().line(p) for p in to_points(batch, 0, limits)]
    assert LineBuilder(limits).lines(batch, 0) == expected


@pytest.mark.parametrize(
    ("occupancy", "speed"), [(math.nan, 50.0), (0.5, math.inf), (-math.inf, 50.0), (0.5, math.nan)]
)
def test_non_finite_values_are_refused(occupancy: float, speed: float) -> None:
    value = payloads.DetectorValue("D1", count=3, occupancy=occupancy, speed_kmh=speed)
    batch = payloads.DetectorBatch("gw1", 1, "J1", datetime(2024, 5, 1, tzinfo=UTC), 30, [value])
    with pytest.raises(LineProtocolError, match="not finite"):
        LineBuilder().lines(batch, 0)
