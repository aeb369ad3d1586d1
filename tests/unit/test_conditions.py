"""Conditions engine: conversions, LOS on hand-computed cases, aggregation, quality, trend."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
import pytest

from citytraffic.conditions import (
    DEFAULT_CONDITIONS,
    ConditionsSnapshot,
    DetectorConditions,
    DetectorHealth,
    DetectorSample,
    LinkConditions,
    compute_conditions,
    density_from_flow_speed,
    density_from_occupancy,
    flow_vph,
    freeway_los,
    freeway_speed_los,
    occupancy_from_density,
    sample_from_fields,
    speed_from_flow_occupancy,
    urban_los,
    vpkm_to_pc_per_mile,
)
from citytraffic.domain.network import Detector, Link, Network, RoadClass, Site, SiteKind

NS = 1_000_000_000
T0 = 1_700_000_000 * NS  # 2023-11-14 22:13:20 UTC


def network() -> Network:
    return Network(
        name="t",
        sites=(
            Site("J1", SiteKind.JUNCTION, 0.0, 0.0),
            Site("S1", SiteKind.STATION, 0.01, 0.0),
        ),
        links=(
            Link("U", ((0.0, 0.0), (0.0, 0.004)), 2, 50.0, RoadClass.URBAN),
            Link("F", ((0.01, 0.0), (0.01, 0.02)), 3, 105.0, RoadClass.FREEWAY),
            Link("EMPTY", ((0.02, 0.0), (0.02, 0.01)), 1, 50.0, RoadClass.URBAN),
        ),
        detectors=(
            Detector("u1", "J1", "U", 1, 400.0),
            Detector("u2", "J1", "U", 2, 400.0),
            Detector("f1", "S1", "F", 1, 1000.0),
            Detector("f2", "S1", "F", 2, 1000.0),
        ),
    )


def series(
    detector: str,
    n: int,
    *,
    count: int | None = None,
    occupancy: float | None = None,
    speed: float | None = None,
    interval_s: int = 30,
    end_ns: int = T0,
    quality: str = "ok",
) -> list[DetectorSample]:
    return [
        DetectorSample(
            detector=detector,
            time_ns=end_ns - (n - 1 - i) * interval_s * NS,
            interval_s=interval_s,
            count=count,
            occupancy=occupancy,
            speed_kmh=speed,
            quality=quality,
        )
        for i in range(n)
    ]


def conditions(
    samples: list[DetectorSample], now_ns: int = T0, **kw: Any
) -> tuple[dict[str, DetectorConditions], dict[str, LinkConditions], ConditionsSnapshot]:
    th = dataclasses.replace(DEFAULT_CONDITIONS, **kw) if kw else DEFAULT_CONDITIONS
    snap = compute_conditions(network(), samples, now_ns, th)
    return {d.detector: d for d in snap.detectors}, {ln.link: ln for ln in snap.links}, snap


def test_unit_conversions_match_hand_computation() -> None:
    assert flow_vph(10, 30) == 1200.0
    assert density_from_flow_speed(1200.0, 60.0) == 20.0
    assert density_from_occupancy(0.15, 7.5) == pytest.approx(20.0)
    assert occupancy_from_density(20.0, 7.5) == pytest.approx(0.15)
    assert speed_from_flow_occupancy(1200.0, 0.15) == pytest.approx(60.0)
    assert vpkm_to_pc_per_mile(20.0) == pytest.approx(32.18688)
    assert vpkm_to_pc_per_mile(20.0, 1.5) == pytest.approx(48.28032)


@pytest.mark.parametrize(
    ("ratio", "letter"),
    [
        (0.9, "A"),
        (0.85, "B"),
        (0.68, "B"),
        (0.67, "C"),
        (0.5, "D"),
        (0.41, "D"),
        (0.4, "E"),
        (0.31, "E"),
        (0.30, "F"),
        (0.0, "F"),
    ],
)
def test_urban_los_bands_are_strictly_above(ratio: float, letter: str) -> None:
    assert urban_los(ratio) == letter


@pytest.mark.parametrize(
    ("density", "letter"),
    [
        (0.0, "A"),
        (11.0, "A"),
        (11.1, "B"),
        (18.0, "B"),
        (26.0, "C"),
        (30.0, "D"),
        (35.0, "D"),
        (45.0, "E"),
        (45.1, "F"),
        (120.0, "F"),
    ],
)
def test_freeway_los_density_bands(density: float, letter: str) -> None:
    assert freeway_los(density) == letter


def test_freeway_speed_only_bands() -> None:
    assert [freeway_speed_los(r) for r in (1.05, 0.95, 0.92, 0.85, 0.79)] == list("AADEF")


def test_urban_detector_flow_speed_density_and_los_c() -> None:
    dets, _, _ = conditions(series("u1", 10, count=10, occupancy=0.1, speed=30.0))
    u1 = dets["u1"]
    assert u1.flow_vph == pytest.approx(1200.0)  # 10 veh / 30 s
    assert u1.speed_kmh == pytest.approx(30.0)
    assert u1.speed_basis == "measured"
    assert u1.density_vpkm == pytest.approx(40.0)  # 1200 / 30
    assert u1.density_basis == "flow_speed"
    assert u1.speed_ratio == pytest.approx(0.6)
    assert (u1.los, u1.los_basis, u1.congested) == ("C", "speed_ratio", False)
    assert u1.samples == 10  # the 300 s window holds 10 intervals of 30 s
    assert u1.data_age_s == 0.0 and not u1.stale
    assert u1.quality == "ok"


def test_urban_speed_below_30_percent_is_f_and_congested() -> None:
    dets, _, _ = conditions(series("u1", 10, count=4, occupancy=0.4, speed=14.0))
    assert dets["u1"].los == "F"
    assert dets["u1"].congested is True


def test_urban_speed_estimated_from_count_and_occupancy() -> None:
    # 5 veh / 30 s = 600 veh/h; k = 0.1 * 1000 / 7.5 = 13.33 veh/km; v = 45 km/h; 45/50 = 0.9
    dets, _, _ = conditions(series("u1", 10, count=5, occupancy=0.1))
    u1 = dets["u1"]
    assert u1.speed_kmh == pytest.approx(45.0)
    assert u1.speed_basis == "estimated_from_occupancy"
    assert u1.density_basis == "occupancy"
    assert (u1.los, u1.los_basis) == ("A", "speed_ratio_estimated")


def test_empty_road_is_los_a_without_speed() -> None:
    dets, _, _ = conditions(series("u1", 10, count=0, occupancy=0.0))
    assert (dets["u1"].los, dets["u1"].los_basis) == ("A", "no_traffic")


def test_freeway_density_from_flow_and_speed_is_los_d() -> None:
    # 15 veh / 30 s = 1800 veh/h/lane at 90 km/h -> 20 veh/km/lane -> 32.19 pc/mi/lane -> D
    dets, _, _ = conditions(series("f1", 10, count=15, occupancy=0.15, speed=90.0))
    f1 = dets["f1"]
    assert f1.density_vpkm == pytest.approx(20.0)
    assert (f1.los, f1.los_basis) == ("D", "density_flow_speed")
    assert f1.congested is False


def test_freeway_occupancy_only_density_and_caltrans_congestion() -> None:
    # occ 0.25 -> 33.3 veh/km -> 53.6 pc/mi/lane -> F; speed estimate 1200 / 33.3 = 36 km/h
    dets, _, _ = conditions(series("f1", 40, count=10, occupancy=0.25))  # 20 minutes
    f1 = dets["f1"]
    assert f1.density_vpkm == pytest.approx(33.333, rel=1e-3)
    assert (f1.los, f1.los_basis) == ("F", "density_occupancy")
    assert f1.speed_kmh == pytest.approx(36.0)
    assert f1.congested_for_s == pytest.approx(1200.0)
    assert f1.congested is True


def test_freeway_slow_for_less_than_15_minutes_is_not_congested_yet() -> None:
    free = series("f1", 20, count=15, speed=100.0, end_ns=T0 - 20 * 30 * NS)
    slow = series("f1", 20, count=8, speed=40.0)  # 10 minutes <= 56 km/h
    dets, _, _ = conditions(free + slow)
    assert dets["f1"].congested_for_s == pytest.approx(600.0)
    assert dets["f1"].congested is False
    dets, _, _ = conditions(free + slow, freeway_congested_min_s=600)
    assert dets["f1"].congested is True


def test_speed_only_freeway_station() -> None:
    dets, _, _ = conditions(series("f1", 10, speed=100.0, interval_s=300))
    f1 = dets["f1"]
    assert f1.flow_vph is None and f1.density_vpkm is None
    assert (f1.los, f1.los_basis) == ("A", "speed_ratio_hcm")
    slow = series("f1", 4, speed=40.0, interval_s=300)  # 20 min <= 56 km/h
    dets, _, _ = conditions(slow)
    assert (dets["f1"].los, dets["f1"].congested) == ("F", True)


def test_link_aggregates_lanes_with_harmonic_speed() -> None:
    lane1 = series("f1", 10, count=20, occupancy=0.2, speed=80.0)  # 2400 veh/h
    lane2 = series("f2", 10, count=10, occupancy=0.3, speed=20.0)  # 1200 veh/h
    _, links, _ = conditions(lane1 + lane2)
    f = links["F"]
    assert f.lanes_reporting == 2 and f.lanes == 3
    assert f.flow_vph == pytest.approx(3600.0)
    assert f.flow_vph_per_lane == pytest.approx(1800.0)
    # space-mean speed: 3600 / (2400/80 + 1200/20) = 40 km/h (arithmetic mean would be 50)
    assert f.speed_kmh == pytest.approx(40.0)
    assert f.density_vpkm == pytest.approx(90.0)  # 30 + 60 veh/km over the two lanes
    assert f.density_vpkm_per_lane == pytest.approx(45.0)
    assert f.los == "F"
    assert set(f.detectors) == {"f1", "f2"}


def test_window_speed_is_vehicle_weighted_harmonic() -> None:
    a = series("u1", 5, count=20, speed=40.0, end_ns=T0 - 5 * 30 * NS)
    b = series("u1", 5, count=10, speed=20.0)
    dets, _, _ = conditions(a + b)
    # 150 vehicles: 100 at 40 km/h, 50 at 20 km/h -> 150 / (100/40 + 50/20) = 30 km/h
    assert dets["u1"].speed_kmh == pytest.approx(30.0)
    assert dets["u1"].flow_vph == pytest.approx(1800.0)


def test_flagged_readings_never_give_a_level_silently() -> None:
    bad = series("u1", 10, count=10, occupancy=1.5, speed=30.0)
    dets, _, _ = conditions(bad)
    u1 = dets["u1"]
    assert u1.los is None and u1.congested is None
    assert u1.los_reason is not None and "occupancy_out_of_range" in u1.los_reason
    assert u1.occupancy == pytest.approx(1.5)  # the value stays visible, with its flag
    assert u1.quality == "occupancy_out_of_range"
    # stored flags count too
    dets, _, _ = conditions(series("u1", 10, count=10, occupancy=0.1, speed=30.0, quality="x"))
    assert dets["u1"].los is None and dets["u1"].quality == "x"


def test_some_flagged_readings_are_left_out_and_reported() -> None:
    good = series("u1", 5, count=10, occupancy=0.1, speed=30.0, end_ns=T0 - 5 * 30 * NS)
    bad = series("u1", 5, count=10, occupancy=0.1, speed=300.0)
    dets, _, _ = conditions(good + bad)
    u1 = dets["u1"]
    assert u1.speed_kmh == pytest.approx(30.0)
    assert u1.los == "C"
    assert (u1.flagged_samples, u1.quality) == (5, "speed_out_of_range")


def test_stale_data_has_no_level() -> None:
    dets, _, _ = conditions(series("u1", 10, count=10, speed=30.0), now_ns=T0 + 900 * NS)
    u1 = dets["u1"]
    assert u1.stale and u1.data_age_s == pytest.approx(900.0)
    assert u1.los is None and u1.los_reason is not None and "stale" in u1.los_reason


def test_bad_health_blocks_the_level_and_the_link_aggregate() -> None:
    health = {
        "f1": DetectorHealth(
            detector="f1",
            site="S1",
            link="F",
            time_ns=T0,
            window_start_ns=0,
            status="bad",
            flags=("stuck",),
        ),
    }
    samples = series("f1", 10, count=10, speed=90.0) + series("f2", 10, count=20, speed=60.0)
    snap = compute_conditions(network(), samples, T0, health=health)
    f1 = next(d for d in snap.detectors if d.detector == "f1")
    assert f1.los is None and f1.health_status == "bad"
    assert f1.los_reason == "detector health bad: stuck"
    link = next(ln for ln in snap.links if ln.link == "F")
    assert link.excluded_detectors == ("f1",) and link.detectors == ("f2",)
    assert link.speed_kmh == pytest.approx(60.0)


def test_trend_from_speed_slope_with_dead_band() -> None:
    def ramp(start: float, stop: float) -> list[DetectorSample]:
        n = 30  # 15 minutes of 30 s
        return [
            DetectorSample(
                detector="u1",
                time_ns=T0 - (n - 1 - i) * 30 * NS,
                interval_s=30,
                count=10,
                occupancy=0.1,
                speed_kmh=start + (stop - start) * i / (n - 1),
            )
            for i in range(n)
        ]

    down, up, flat = ramp(50.0, 20.0), ramp(20.0, 50.0), ramp(40.0, 39.0)
    assert conditions(down)[0]["u1"].trend == "building_up"
    assert conditions(up)[0]["u1"].trend == "easing"
    assert conditions(flat)[0]["u1"].trend == "stable"
    # 30 km/h in 14.5 min: slope -2.07 km/h/min
    assert conditions(down)[0]["u1"].speed_slope_kmh_per_min == pytest.approx(-30 / 14.5)
    # the dead band is configurable: 1 km/h per 14.5 min is 0.7% of FFS per 5 min
    assert conditions(flat, trend_dead_band_speed_ratio_per_5min=0.001)[0]["u1"].trend == (
        "building_up"
    )


def test_trend_from_occupancy_when_there_is_no_speed() -> None:
    rising = [
        DetectorSample(
            detector="u1", time_ns=T0 - (19 - i) * 30 * NS, interval_s=30, occupancy=0.05 + 0.01 * i
        )
        for i in range(20)
    ]
    u1 = conditions(rising)[0]["u1"]
    assert (u1.trend, u1.trend_basis) == ("building_up", "occupancy")
    assert u1.occupancy_slope_per_min == pytest.approx(0.02)


def test_missing_data_and_detectorless_links_are_explained() -> None:
    dets, links, snap = conditions([])
    assert dets["u1"].los is None and dets["u1"].los_reason == "no data"
    assert links["EMPTY"].los_reason == "no detectors on this link"
    assert len(snap.links) == 3 and len(snap.detectors) == 4


def test_unknown_future_and_old_samples_are_counted_not_used() -> None:
    samples = [
        *series("nope", 2, count=1),
        *series("u1", 1, count=1, end_ns=T0 + 600 * NS),
        *series("u1", 1, count=1, end_ns=T0 - 7200 * NS),
    ]
    _, _, snap = conditions(samples)
    assert snap.ignored_samples == {"unknown_detector": 2, "future": 1, "too_old": 1}


def test_snapshot_serialises_to_json() -> None:
    _, _, snap = conditions(series("u1", 10, count=10, occupancy=0.1, speed=30.0))
    data = msgspec.json.decode(msgspec.json.encode(snap))
    u1 = next(d for d in data["detectors"] if d["detector"] == "u1")
    assert u1["los"] == "C" and u1["flow_vph"] == pytest.approx(1200.0)


def test_sample_from_fields_turns_bad_values_into_absent_ones() -> None:
    s = sample_from_fields(
        "d",
        T0,
        {
            "interval_s": 30,
            "count": 7,
            "occupancy": "x",
            "speed_kmh": float("nan"),
            "quality": "ok",
        },
    )
    assert s is not None and (s.count, s.occupancy, s.speed_kmh) == (7, None, None)
    assert sample_from_fields("d", T0, {"count": 1}) is None
    assert sample_from_fields("d", T0, {"interval_s": True}) is None
