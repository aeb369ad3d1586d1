"""The synthetic city's network and fixed-time signal plans."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from citytraffic.domain.network import RoadClass, SiteKind, haversine_m, validate
from simulators.synthetic.city import CityConfig, LinkKind, build_city
from simulators.synthetic.signals import plans_for

CFG = CityConfig()


def test_grid_has_junctions_links_detectors_and_gateways() -> None:
    city = build_city(CFG)
    net = validate(city.network)
    junctions = [s for s in net.sites if s.kind is SiteKind.JUNCTION]
    assert len(junctions) == CFG.rows * CFG.cols == len(net.junctions)
    # one gateway per site, each publishing for exactly that site
    assert sorted(g.sites[0] for g in net.gateways) == sorted(s.id for s in net.sites)
    assert all(len(g.sites) == 1 for g in net.gateways)
    urban = [ln for ln in net.links if ln.road_class is RoadClass.URBAN]
    assert all(ln.lanes == 2 and ln.free_flow_kmh == 50.0 for ln in urban)
    # every lane of every link entering a junction has a stop-line detector of that junction
    for j in junctions:
        incoming = [ln for ln in net.links if ln.to_site == j.id]
        assert len(incoming) == 4
        dets = net.detectors_of_site(j.id)
        assert len(dets) == 8
        for ln in incoming:
            lanes = sorted(d.lane for d in dets if d.link == ln.id)
            assert lanes == [1, 2]
            assert all(
                ln.length_m - 10 < d.position_m < ln.length_m for d in dets if d.link == ln.id
            )


def test_city_sits_at_real_coordinates_with_realistic_blocks() -> None:
    net = build_city(CFG).network
    centre_lon, centre_lat = CFG.origin_lon, CFG.origin_lat
    for s in net.sites:
        assert haversine_m(s.lon, s.lat, centre_lon, centre_lat) < 2500
    link = net.link("J0-0_J0-1")
    assert link.length_m == pytest.approx(CFG.block_m, rel=0.01)
    assert net.link("J0-0_J1-0").length_m == pytest.approx(CFG.block_m, rel=0.01)
    # east-west links run east (lon grows), north-south links run north (lat grows)
    assert link.coordinates[1][0] > link.coordinates[0][0]
    assert net.link("J0-0_J1-0").coordinates[1][1] > net.link("J0-0_J1-0").coordinates[0][1]


def test_movements_per_lane_lead_out_of_the_junction() -> None:
    net = build_city(CFG).network
    links = {ln.id: ln for ln in net.links}
    for j in net.junctions:
        assert [g.id for g in j.signal_groups] == ["N", "E", "S", "W"]
        assert {p.id: p.signal_groups for p in j.phases} == {"NS": ("N", "S"), "EW": ("E", "W")}
        for g in j.signal_groups:
            lanes_served = {lane for m in g.movements for lane in m.lanes}
            assert lanes_served == {1, 2}
            targets = {m.to_link for m in g.movements}
            assert len(targets) == 3  # through, right, left
            for m in g.movements:
                assert m.to_link is not None
                assert links[m.to_link].coordinates[0] == links[m.link].coordinates[-1]
    # traffic from the north turning right at J1-1 heads west (right-hand traffic)
    j11 = net.junction("J1-1")
    assert j11 is not None
    north = next(g for g in j11.signal_groups if g.id == "N")
    lane1 = {m.to_link for m in north.movements if m.lanes == (1,)}
    assert lane1 == {"J1-1_J0-1", "J1-1_J1-0"}  # through (south) and right (west)


def test_freeway_stations_along_the_south_edge() -> None:
    city = build_city(CFG)
    net = city.network
    stations = [s for s in net.sites if s.kind is SiteKind.STATION]
    assert len(stations) >= 4
    south = min(s.lat for s in net.sites if s.kind is SiteKind.JUNCTION)
    assert all(s.lat < south for s in stations)
    fw = [ln for ln in net.links if ln.road_class is RoadClass.FREEWAY]
    assert fw and all(ln.lanes == 3 and ln.free_flow_kmh == 100.0 for ln in fw)
    for s in stations:
        assert [d.lane for d in net.detectors_of_site(s.id)] == [1, 2, 3]
    assert all(city.roles[ln.id].kind is LinkKind.FREEWAY for ln in fw)
    no_fw = build_city(replace(CFG, freeway=False)).network
    assert all(s.kind is SiteKind.JUNCTION for s in no_fw.sites)


@pytest.mark.parametrize(
    "change",
    [{"rows": 0}, {"block_m": 10.0}, {"origin_lat": 95.0}, {"cycle_s": 25}, {"timezone": "Mars/X"}],
)
def test_bad_config_is_refused_with_a_reason(change: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="invalid city config"):
        build_city(replace(CFG, **change))  # type: ignore[arg-type]


def test_fixed_time_plan_cycles_through_safe_states() -> None:
    plans = plans_for(build_city(CFG))
    plan = plans["J1-2"]
    assert plan.cycle_s == CFG.cycle_s
    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    t1 = t0 + timedelta(seconds=CFG.cycle_s * 3)
    changes = plan.changes(t0, t1)
    assert len(changes) == 6 * 3
    assert all(t0 < when <= t1 for when, _ in changes)
    assert [w for w, _ in changes] == sorted(w for w, _ in changes)
    for when, status in changes:
        assert re.fullmatch(r"[Gyr]{4}", status.state)
        # north-south and east-west are never green or yellow together
        ns_open = status.state[0] != "r" or status.state[2] != "r"
        ew_open = status.state[1] != "r" or status.state[3] != "r"
        assert not (ns_open and ew_open)
        assert plan.status_at(when).state == status.state
        assert plan.status_at(when).time_to_change_s == pytest.approx(status.time_to_change_s)
    # the EW corridor has the heavier weight, so the longer green
    assert plan.green_share("E") > plan.green_share("N")
    assert plan.green_share("N") + plan.green_share("E") == pytest.approx(80 / 90)


def test_status_counts_down_to_the_next_change() -> None:
    plan = plans_for(build_city(CFG))["J0-0"]
    t = datetime(2026, 3, 2, 8, 0, 7, tzinfo=UTC)
    status = plan.status_at(t)
    nxt = plan.changes(t, t + timedelta(seconds=CFG.cycle_s))[0][0]
    assert (nxt - t).total_seconds() == pytest.approx(status.time_to_change_s, abs=0.01)
