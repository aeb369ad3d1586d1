"""Detector health: each flag on a constructed window, status, store fields."""

from __future__ import annotations

import dataclasses
import random

import msgspec
import pytest

from citytraffic.conditions import (
    DEFAULT_HEALTH,
    DetectorSample,
    assess_detector,
    assess_health,
    health_fields,
    health_tags,
)
from citytraffic.domain.network import Detector, Link, Network, RoadClass, Site, SiteKind

NS = 1_000_000_000
NOON = 1_700_049_600 * NS  # 2023-11-15 12:00:00 UTC
FREEWAY = Detector("f1", "S1", "F", 1, 100.0)
URBAN = Detector("u1", "J1", "U", 1, 100.0)


def healthy(
    n: int = 240, end_ns: int = NOON, detector: str = "f1", seed: int = 1
) -> list[DetectorSample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        occ = round(rng.uniform(0.05, 0.15), 3)
        out.append(
            DetectorSample(
                detector=detector,
                time_ns=end_ns - (n - 1 - i) * 30 * NS,
                interval_s=30,
                count=rng.randint(5, 15),
                occupancy=occ,
                speed_kmh=round(rng.uniform(90, 110), 1),
            )
        )
    return out


def replace(samples: list[DetectorSample], every: int, **changes: object) -> list[DetectorSample]:
    return [
        msgspec.structs.replace(s, **changes) if i % every == 0 else s
        for i, s in enumerate(samples)
    ]


def test_healthy_detector_is_ok() -> None:
    h = assess_detector(FREEWAY, "freeway", healthy(), NOON + 30 * NS)
    assert h.status == "ok", h.reasons
    assert h.flags == () and h.samples == 240 and h.daytime_samples == 240
    assert h.entropy_bits is not None and h.entropy_bits > 4
    assert h.last_seen_ns == NOON


def test_dead_after_an_hour_of_daytime_silence() -> None:
    h = assess_detector(FREEWAY, "freeway", healthy(), NOON + 2 * 3600 * NS)
    assert h.status == "bad" and "dead" in h.flags
    assert "no data for 120 min" in h.reasons[0]


def test_silence_at_night_is_suspect_not_dead() -> None:
    night_end = NOON + 10 * 3600 * NS  # 22:00 UTC
    h = assess_detector(FREEWAY, "freeway", healthy(end_ns=night_end), night_end + 2 * 3600 * NS)
    assert h.flags == ("silent",) and h.status == "suspect"
    # the daytime window is configurable (local time zone too)
    th = dataclasses.replace(DEFAULT_HEALTH, timezone="America/Los_Angeles")  # 14:00 local
    h = assess_detector(
        FREEWAY, "freeway", healthy(end_ns=night_end), night_end + 2 * 3600 * NS, th
    )
    assert "dead" in h.flags


def test_a_detector_never_heard_of_in_the_window_is_dead() -> None:
    h = assess_detector(FREEWAY, "freeway", [], NOON, window_s=7200)
    assert h.flags == ("dead",) and h.last_seen_ns is None


def test_stuck_identical_non_zero_readings() -> None:
    samples = healthy(240)
    stuck = [
        msgspec.structs.replace(s, count=7, occupancy=0.123, speed_kmh=88.0) if i >= 160 else s
        for i, s in enumerate(samples)
    ]  # last 80 intervals = 40 minutes
    h = assess_detector(FREEWAY, "freeway", stuck, NOON)
    assert "stuck" in h.flags and h.status == "bad"
    assert h.longest_identical_run_s == pytest.approx(40 * 60)
    assert any("identical readings for 40 min" in r for r in h.reasons)


def test_repeated_zeros_are_not_stuck() -> None:
    night = NOON - 10 * 3600 * NS  # 02:00
    zeros = [
        DetectorSample(
            detector="u1", time_ns=night - i * 30 * NS, interval_s=30, count=0, occupancy=0.0
        )
        for i in range(200)
    ]
    h = assess_detector(URBAN, "urban", zeros, night)
    assert "stuck" not in h.flags and h.longest_identical_run_s == 0.0


def test_low_occupancy_entropy_is_stuck() -> None:
    samples = [
        msgspec.structs.replace(s, occupancy=0.10 if i % 2 else 0.11)
        for i, s in enumerate(healthy())
    ]
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert h.entropy_bits == pytest.approx(1.0)
    assert "stuck" in h.flags
    assert any("occupancy entropy 1.00 bits < 4.0" in r for r in h.reasons)


def test_speed_only_station_uses_speed_entropy() -> None:
    samples = [msgspec.structs.replace(s, count=None, occupancy=None) for s in healthy()]
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert h.entropy_basis == "speed" and h.status == "ok", h.reasons


def test_intermittent_count_without_occupancy() -> None:
    samples = replace(healthy(), 10, occupancy=0.0)  # 10% of samples
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert "intermittent" in h.flags and h.status == "suspect"
    assert h.count_without_occupancy_share == pytest.approx(0.1)


def test_intermittent_occupancy_without_count_with_urban_limits() -> None:
    few = replace(healthy(detector="u1"), 10, count=0)  # 10%: normal at a stop line
    assert "intermittent" not in assess_detector(URBAN, "urban", few, NOON).flags
    many = replace(healthy(detector="u1"), 2, count=0)  # 50%
    h = assess_detector(URBAN, "urban", many, NOON)
    assert "intermittent" in h.flags
    assert h.occupancy_without_count_share == pytest.approx(0.5)


def test_high_occupancy_share() -> None:
    samples = replace(healthy(), 5, occupancy=0.5)  # 20% > 9.8%
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert h.flags == ("high_occupancy",) and h.status == "suspect"
    assert h.high_occupancy_share == pytest.approx(0.2)


def test_zero_occupancy_card_off() -> None:
    samples = [
        msgspec.structs.replace(s, count=0, occupancy=0.0, speed_kmh=None) if i % 10 else s
        for i, s in enumerate(healthy())
    ]
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert "zero_occupancy" in h.flags and h.status == "bad"
    assert h.zero_occupancy_share == pytest.approx(0.9)


def test_share_tests_need_enough_daytime_samples() -> None:
    samples = replace(healthy(40), 5, occupancy=0.5)
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert h.flags == () and h.high_occupancy_share is None


def test_clock_skew_future_timestamps() -> None:
    samples = healthy(end_ns=NOON + 600 * NS)
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert "clock_skew" in h.flags and h.max_future_s == pytest.approx(600)
    assert any("600 s in the future" in r for r in h.reasons)


def test_clock_skew_from_receive_time() -> None:
    samples = [msgspec.structs.replace(s, receive_time_ns=s.time_ns - 300 * NS) for s in healthy()]
    h = assess_detector(FREEWAY, "freeway", samples, NOON)
    assert h.flags == ("clock_skew",)
    assert h.receive_skew_s == pytest.approx(-300)
    assert "ahead of" in h.reasons[0]
    ok = [msgspec.structs.replace(s, receive_time_ns=s.time_ns + 2 * NS) for s in healthy()]
    assert assess_detector(FREEWAY, "freeway", ok, NOON).status == "ok"


def test_range_flags_suspect_then_bad() -> None:
    some = replace(healthy(), 20, speed_kmh=250.0)
    h = assess_detector(FREEWAY, "freeway", some, NOON)
    assert h.flags == ("range",) and h.status == "suspect"
    assert h.range_flags == ("speed_out_of_range",)
    most = replace(healthy(), 1, speed_kmh=250.0)
    assert assess_detector(FREEWAY, "freeway", most, NOON).status == "bad"


def test_assess_health_covers_every_detector_and_fields_are_storable() -> None:
    net = Network(
        name="t",
        sites=(Site("S1", SiteKind.STATION, 0, 0),),
        links=(Link("F", ((0, 0), (0, 0.01)), 2, 100.0, RoadClass.FREEWAY),),
        detectors=(FREEWAY, Detector("f2", "S1", "F", 2, 100.0)),
    )
    records = assess_health(net, healthy(), NOON, window_s=7200)
    assert [(r.detector, r.status) for r in records] == [("f1", "ok"), ("f2", "bad")]
    tags, fields = health_tags(records[1]), health_fields(records[1])
    assert tags == {"site": "S1", "detector": "f2"}
    assert fields["status"] == "bad" and fields["flags"] == "dead"
    assert fields["window_s"] == 7200
    assert all(isinstance(v, float | int | str | bool) for v in fields.values())
    assert "last_seen_ns" not in fields


def test_stuck_needs_enough_intervals_too() -> None:
    # 5-minute speed-only readings identical for 30 minutes: 7 intervals >= 5 -> stuck
    t = [NOON - i * 300 * NS for i in range(7)]
    same = [DetectorSample(detector="f1", time_ns=x, interval_s=300, speed_kmh=97.3) for x in t]
    assert "stuck" in assess_detector(FREEWAY, "freeway", same, NOON).flags
    # 1-hour readings identical for 2 hours: only 2 intervals -> not stuck
    hourly = [
        DetectorSample(detector="f1", time_ns=NOON - i * 3600 * NS, interval_s=3600, speed_kmh=97.3)
        for i in range(2)
    ]
    h = assess_detector(FREEWAY, "freeway", hourly, NOON)
    assert h.longest_identical_run_s == pytest.approx(7200) and "stuck" not in h.flags
