"""Reference conversion of decoded messages to points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from citytraffic.messaging import payloads
from ingest.convert import is_future, reading_count, time_ns, to_points

T = datetime(2024, 5, 1, 8, 0, 30, 123456, tzinfo=UTC)
T_NS = 1714550430_123456000


def test_time_ns_is_exact_and_offset_aware() -> None:
    assert time_ns(T) == T_NS
    plus2 = T.astimezone(timezone(timedelta(hours=2)))
    assert time_ns(plus2) == T_NS
    assert time_ns(datetime(1960, 1, 1, tzinfo=UTC)) < 0


def test_detector_batch_points() -> None:
    m = payloads.DetectorBatch(
        gateway="gw1",
        seq=7,
        site="J1",
        ts=T,
        interval_s=30,
        readings=[
            payloads.DetectorValue("D1", count=10, occupancy=0.2, speed_kmh=45.5),
            payloads.DetectorValue("D2", count=0, occupancy=0.3),  # no speed, inconsistent
            payloads.DetectorValue("D3", count=5, occupancy=1.5, speed_kmh=250.0),
        ],
    )
    points = to_points(m, receive_ns=1)
    assert [p.tags for p in points] == [
        (("detector", "D1"), ("site", "J1")),
        (("detector", "D2"), ("site", "J1")),
        (("detector", "D3"), ("site", "J1")),
    ]
    assert all(p.measurement == "detector" and p.time_ns == T_NS for p in points)
    assert points[0].fields == {
        "count": 10,
        "occupancy": 0.2,
        "speed_kmh": 45.5,
        "interval_s": 30,
        "seq": 7,
        "gateway": "gw1",
        "quality": "ok",
    }
    assert "speed_kmh" not in points[1].fields
    assert points[1].fields["quality"] == "occupancy_without_count"
    assert points[2].fields["quality"] == "occupancy_out_of_range;speed_out_of_range"
    assert reading_count(m) == 3


def test_single_reading_signal_and_status() -> None:
    single = payloads.SingleReading("gw1", 1, "J1", T, 60, "D9", count=3)
    (p,) = to_points(single, 1)
    assert p.measurement == "detector" and p.fields["count"] == 3 and p.time_ns == T_NS
    assert reading_count(single) == 1

    sig = payloads.SignalState("gw1", 2, "J1", T, "P1", "2", "GGrr", time_to_change_s=4.5)
    (s,) = to_points(sig, 1)
    assert s.measurement == "signal" and s.tags == (("site", "J1"),)
    assert s.fields == {
        "plan": "P1",
        "phase": "2",
        "state": "GGrr",
        "time_to_change_s": 4.5,
        "seq": 2,
        "gateway": "gw1",
    }
    assert reading_count(sig) == 0

    will = payloads.GatewayStatus("gw1", "offline")
    (w,) = to_points(will, receive_ns=42)
    assert w.time_ns == 42 and w.fields == {"status": "offline", "online": False}
    online = payloads.GatewayStatus("gw1", "online", ts=T)
    assert to_points(online, 42)[0].time_ns == T_NS


def test_future_tolerance() -> None:
    now = T_NS
    assert not is_future(now + 119 * 10**9, now, 120)
    assert is_future(now + 121 * 10**9, now, 120)
    assert not is_future(now - 10**12, now, 0)
