"""METR-LA stations as a citytraffic network: freeway station sites with one detector on a short
link along the direction of travel, grouped into gateways; the file round-trips."""

from __future__ import annotations

import math
from pathlib import Path

from citytraffic.domain.network import RoadClass, SiteKind, haversine_m
from citytraffic.network_file import load_network, save_network
from simulators.metrla.data import Station, load_metrla
from simulators.metrla.network import (
    FREE_FLOW_KMH,
    LINK_HALF_M,
    build_network,
    group_gateways,
    station_geometry,
)

DATA = Path(__file__).parents[2].parent / "shared/data/metr-la"


def _bearing(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * math.cos(math.radians(a[1]))
    return math.degrees(math.atan2(dx, b[1] - a[1])) % 360


def test_network_of_the_real_stations(tmp_path: Path) -> None:
    data = load_metrla(DATA, max_rows=1)
    net = build_network(data.stations)
    assert len(net.sites) == len(net.links) == len(net.detectors) == 207
    assert all(s.kind is SiteKind.STATION and s.id.startswith("LA-") for s in net.sites)
    assert all(
        ln.road_class is RoadClass.FREEWAY and ln.free_flow_kmh == FREE_FLOW_KMH == 105.0
        for ln in net.links
    )
    for st in data.stations:
        site = net.site(f"LA-{st.id}")
        assert (site.lon, site.lat) == (st.lon, st.lat)
        (det,) = net.detectors_of_site(site.id)
        link = net.link(det.link)
        assert abs(link.length_m - 2 * LINK_HALF_M) < 1.0
        mid = (
            (link.coordinates[0][0] + link.coordinates[1][0]) / 2,
            (link.coordinates[0][1] + link.coordinates[1][1]) / 2,
        )
        assert haversine_m(mid[0], mid[1], st.lon, st.lat) < 1.0  # the detector is at the station
        assert det.position_m == LINK_HALF_M
    sites = [s for gw in net.gateways for s in gw.sites]
    assert sorted(sites) == sorted(s.id for s in net.sites)  # every site in exactly one gateway
    assert len(net.gateways) == 21 and max(len(gw.sites) for gw in net.gateways) == 10
    path = tmp_path / "metr-la.geojson"
    save_network(net, path)
    assert load_network(path) == net


def test_paired_stations_drive_on_the_right() -> None:
    data = load_metrla(DATA, max_rows=1)
    geometry = {g.station: g for g in station_geometry(data.stations)}
    paired = [g for g in geometry.values() if g.direction == "paired"]
    assert len(paired) > 80
    by_id = {s.id: s for s in data.stations}
    opposite = 0
    for g in paired:
        s = by_id[g.station]
        twin = min(
            (t for t in data.stations if t.id != s.id),
            key=lambda t: haversine_m(s.lon, s.lat, t.lon, t.lat),
        )
        to_twin = _bearing((s.lon, s.lat), (twin.lon, twin.lat))
        # the opposite carriageway lies to the left of the direction of travel
        left = (to_twin - g.bearing_deg) % 360
        assert 180 < left < 360, (s.id, g.bearing_deg, to_twin)
        t = geometry[twin.id]
        opposite += abs((g.bearing_deg - t.bearing_deg + 180) % 360 - 180) > 135
    assert opposite >= 0.9 * len(paired)


def test_direction_of_an_isolated_pair_and_assumed_direction() -> None:
    # two stations 30 m apart east-west (a pair across a north-south freeway) plus one far away
    stations = (
        Station("1", -118.0, 34.0),
        Station("2", -118.0 + 30 / (111_320 * math.cos(math.radians(34))), 34.0),
        Station("3", -117.0, 34.5),
    )
    g = {x.station: x for x in station_geometry(stations)}
    assert g["1"].direction == g["2"].direction == "paired"
    assert abs(g["1"].bearing_deg - 180) < 1  # west carriageway: southbound (twin on its left)
    assert abs(g["2"].bearing_deg % 360) < 1 or abs(g["2"].bearing_deg - 360) < 1  # northbound
    assert g["3"].direction == "assumed"
    assert g["3"].bearing_deg < 90 or g["3"].bearing_deg >= 270


def test_gateway_groups_are_compact_and_deterministic() -> None:
    data = load_metrla(DATA, max_rows=1)
    groups = group_gateways(data.stations, 10)
    assert groups == group_gateways(data.stations, 10)
    assert [len(g) for g in groups] == [10] * 20 + [7]
    assert len(group_gateways(data.stations, 50)) == 5
