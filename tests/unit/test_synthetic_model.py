"""The synthetic traffic model: reproducible, consistent with the fundamental diagram, daily
profiles with peaks, incidents that reduce capacity and spill back upstream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from citytraffic.domain.quality import QUALITY_OK, range_flags
from simulators.synthetic.city import City, CityConfig, build_city
from simulators.synthetic.model import (
    L_EFF_M,
    FundamentalDiagram,
    Incident,
    SiteReadings,
    SyntheticModel,
    split_lanes,
)
from simulators.synthetic.profiles import demand_factor, inbound_bias

VIENNA = ZoneInfo("Europe/Vienna")
MONDAY_0000 = datetime(2026, 3, 2, 0, 0, tzinfo=VIENNA).astimezone(UTC)
SATURDAY_0000 = datetime(2026, 3, 7, 0, 0, tzinfo=VIENNA).astimezone(UTC)


@pytest.fixture(scope="module")
def city() -> City:
    return build_city(CityConfig())


@pytest.fixture(scope="module")
def weekday(city: City) -> list[list[SiteReadings]]:
    return SyntheticModel(city, seed=11, interval_s=300).run(MONDAY_0000, 288)


def _values(batches: list[SiteReadings]) -> list[tuple[int, float, float | None]]:
    return [(r.count, r.occupancy, r.speed_kmh) for b in batches for r in b.readings]


def test_same_seed_same_values_other_seed_other_values(city: City) -> None:
    start = MONDAY_0000 + timedelta(hours=7)
    a = SyntheticModel(city, seed=5, interval_s=60).run(start, 30)
    b = SyntheticModel(city, seed=5, interval_s=60).run(start, 30)
    c = SyntheticModel(city, seed=6, interval_s=60).run(start, 30)
    assert [_values(x) for x in a] == [_values(x) for x in b]
    assert [_values(x) for x in a] != [_values(x) for x in c]


def test_one_batch_per_site_with_all_its_detectors(city: City) -> None:
    batches = SyntheticModel(city, seed=1, interval_s=60).step(MONDAY_0000 + timedelta(hours=8))
    assert sorted(b.site for b in batches) == sorted(s.id for s in city.network.sites)
    for b in batches:
        assert b.ts == MONDAY_0000 + timedelta(hours=8)
        assert b.interval_s == 60
        expected = [d.id for d in city.network.detectors_of_site(b.site)]
        assert [r.detector for r in b.readings] == expected


def test_readings_obey_the_fundamental_diagram(
    city: City, weekday: list[list[SiteReadings]]
) -> None:
    vf = {ln.id: ln.free_flow_kmh for ln in city.network.links}
    link_of = {d.id: d.link for d in city.network.detectors}
    n_checked = 0
    for batches in weekday:
        for b in batches:
            for r in b.readings:
                assert isinstance(r.count, int) and r.count >= 0
                assert 0.0 <= r.occupancy <= 1.0
                assert range_flags(r.count, r.occupancy, r.speed_kmh, b.interval_s) in (
                    QUALITY_OK,
                    "occupancy_without_count",  # a standing queue over the loop
                )
                if r.count == 0:
                    assert r.speed_kmh is None
                    continue
                assert r.speed_kmh is not None
                assert 0 < r.speed_kmh <= 1.2 * vf[link_of[r.detector]]
                q = r.count * 3600 / b.interval_s  # flow, veh/h
                k = q / r.speed_kmh  # density, veh/km
                assert r.occupancy == pytest.approx(min(1.0, k * L_EFF_M / 1000), abs=6e-4)
                n_checked += 1
    assert n_checked > 10_000


def test_signal_capacity_caps_stop_line_flow(city: City, weekday: list[list[SiteReadings]]) -> None:
    """No stop-line lane passes more than 1800 veh/h x g/C, give or take the Poisson noise of
    one 5-minute count (4 standard deviations)."""
    model = SyntheticModel(city, seed=0, interval_s=300)
    link_of = {d.id: d.link for d in city.network.detectors}
    busiest = 0.0
    for batches in weekday:
        for b in batches:
            if not b.site.startswith("J"):
                continue
            for r in b.readings:
                role = city.roles[link_of[r.detector]]
                cap_veh = model.base_capacity_vph(role) / role.lanes * 300 / 3600
                assert r.count <= cap_veh + 4 * cap_veh**0.5, r
                busiest = max(busiest, r.count / cap_veh)
    assert busiest > 0.9  # the peak does reach capacity somewhere


def test_split_lanes_respects_lane_capacity() -> None:
    shares = np.array([0.4, 0.6])
    assert split_lanes(1000.0, shares, 1000.0) == pytest.approx([400.0, 600.0])
    assert split_lanes(1800.0, shares, 1000.0) == pytest.approx([800.0, 1000.0])
    assert split_lanes(2400.0, shares, 1000.0) == pytest.approx([1200.0, 1200.0])
    assert sum(split_lanes(2500.0, np.array([0.2, 0.3, 0.5]), 1000.0)) == pytest.approx(2500.0)


def test_weekday_has_morning_and_evening_peaks(weekday: list[list[SiteReadings]]) -> None:
    def hourly(hour: int) -> int:
        steps = weekday[hour * 12 : (hour + 1) * 12]
        return sum(r.count for batches in steps for b in batches for r in b.readings)

    night, am, midday, pm = hourly(3), hourly(8), hourly(11), hourly(17)
    assert am > 5 * night and pm > 5 * night
    assert am > midday and pm > midday
    # at the peak some stop-line loops sit in queues: high occupancy, low speed
    peak = [r for batches in weekday[8 * 12 : 9 * 12] for b in batches for r in b.readings]
    assert any(r.occupancy > 0.5 for r in peak)
    assert all(
        r.occupancy < 0.3
        for batches in weekday[2 * 12 : 4 * 12]
        for b in batches
        for r in b.readings
    )


def test_profiles_weekday_weekend_and_direction() -> None:
    def at(day: datetime, hour: float) -> datetime:
        return (day + timedelta(hours=hour)).astimezone(VIENNA)

    assert demand_factor(at(MONDAY_0000, 8)) > 0.9
    assert demand_factor(at(MONDAY_0000, 3)) < 0.1
    assert demand_factor(at(MONDAY_0000, 17.5)) > 0.85
    assert demand_factor(at(SATURDAY_0000, 8)) < demand_factor(at(MONDAY_0000, 8)) / 2
    assert demand_factor(at(SATURDAY_0000, 13.5)) > demand_factor(at(SATURDAY_0000, 8))
    assert inbound_bias(at(MONDAY_0000, 8)) > 0.2 > 0.0 > -0.2 > inbound_bias(at(MONDAY_0000, 17.5))
    assert inbound_bias(at(SATURDAY_0000, 8)) == 0.0


def test_weekend_is_lighter_than_weekday(city: City) -> None:
    wd = SyntheticModel(city, seed=2, interval_s=300).run(MONDAY_0000 + timedelta(hours=7), 24)
    we = SyntheticModel(city, seed=2, interval_s=300).run(SATURDAY_0000 + timedelta(hours=7), 24)

    def total(runs: list[list[SiteReadings]]) -> int:
        return sum(r.count for bs in runs for b in bs for r in b.readings)

    assert total(we) < 0.6 * total(wd)


def _mean(batches: list[SiteReadings], site: str, approach: str, what: str) -> float:
    b = next(x for x in batches if x.site == site)
    rs = [r for r in b.readings if r.detector.split(":")[1].startswith(approach)]
    values = [
        (r.occupancy if what == "occ" else (r.speed_kmh if r.speed_kmh is not None else 0.0))
        for r in rs
    ]
    return sum(values) / len(values)


def test_incident_queue_spills_back_upstream(city: City) -> None:
    start = MONDAY_0000 + timedelta(hours=10)
    incident = Incident("J1-1_J1-2", start + timedelta(minutes=5), 3600, capacity_factor=0.1)
    base = SyntheticModel(city, seed=3, interval_s=60)
    hit = SyntheticModel(city, seed=3, interval_s=60, incidents=(incident,))
    base_run, hit_run = base.run(start, 45), hit.run(start, 45)
    # the incident link itself: its stop-line loops (J1-2, from the west) sit in the queue
    early = hit_run[10]
    assert _mean(early, "J1-2", "W", "occ") > 0.4
    assert _mean(base_run[10], "J1-2", "W", "occ") < 0.25
    # the queue fills the incident link, then the link feeding it (J1-0 -> J1-1) backs up
    assert hit.state["J1-1_J1-2"].fill(hit.roles["J1-1_J1-2"]) > 0.95
    late_hit, late_base = hit_run[-1], base_run[-1]
    assert _mean(late_hit, "J1-1", "W", "occ") > 0.4 > _mean(late_base, "J1-1", "W", "occ")
    assert _mean(late_hit, "J1-1", "W", "speed") < 10 < _mean(late_base, "J1-1", "W", "speed")
    # and it goes one link further upstream with time (W1 -> J1-0 feeds J1-0 -> J1-1)
    assert hit.state["J1-0_J1-1"].queue_veh > 10 * (base.state["J1-0_J1-1"].queue_veh + 1)
    # the spill-back came later upstream than on the incident link
    first = {
        site: next(i for i, bs in enumerate(hit_run) if _mean(bs, site, "W", "occ") > 0.4)
        for site in ("J1-2", "J1-1")
    }
    assert first["J1-2"] < first["J1-1"]


def test_freeway_incident_gives_a_california_signature(city: City) -> None:
    start = MONDAY_0000 + timedelta(hours=7, minutes=30)
    incident = Incident("FW-EB-1_FW-EB-2", start + timedelta(minutes=5), 3600, 0.2)
    model = SyntheticModel(city, seed=4, interval_s=60, incidents=(incident,))
    runs = model.run(start, 40)
    upstream = _mean(runs[-1], "FW-EB-1", "L", "occ") * 100  # percent
    downstream = _mean(runs[-1], "FW-EB-2", "L", "occ") * 100
    occdf = upstream - downstream
    assert occdf >= 8 and occdf / upstream >= 0.5  # California algorithm #7 tests
    assert _mean(runs[-1], "FW-EB-1", "L", "speed") < 40 < _mean(runs[-1], "FW-EB-2", "L", "speed")
    # the queue spills back to the station before
    assert _mean(runs[-1], "FW-EB-0", "L", "occ") > 0.2


def test_incident_on_unknown_link_is_refused(city: City) -> None:
    with pytest.raises(ValueError, match="unknown link"):
        SyntheticModel(city, 1, 60, incidents=(Incident("nope", MONDAY_0000, 60),))
    with pytest.raises(ValueError):
        SyntheticModel(city, 1, 0)


def test_fundamental_diagrams() -> None:
    gs = FundamentalDiagram(50.0)  # Greenshields
    assert gs.max_flow_vph == pytest.approx(50 * 125 / 4)
    for q in (0.0, 300.0, 900.0, 1500.0):
        kf, kc = gs.free_density(q), gs.congested_density(q)
        assert kf <= kc
        if q > 0:
            assert q / kf == pytest.approx(50 * (1 - kf / 125), rel=1e-6)  # v = vf (1 - k/kj)
    tri = FundamentalDiagram(100.0, capacity_vph=2000.0)
    assert tri.free_density(1000) == pytest.approx(10.0)
    assert tri.congested_density(0) == pytest.approx(125.0)
    assert tri.congested_density(2000) == pytest.approx(20.0)
