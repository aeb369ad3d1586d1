"""The citytraffic network derived from a SUMO network, and plans as SUMO programs (pure: a
hand-written .net.xml, no SUMO needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from citytraffic.domain.network import (
    ID_PATTERN,
    Movement,
    Network,
    RoadClass,
    SiteKind,
    haversine_m,
)
from control.plans import validate_plan
from simulators.sumo.ids import safe_id
from simulators.sumo.loops import ADVANCE_LOOP_M, STOP_LOOP_M, loop_specs
from simulators.sumo.netfile import Origin, SignalData, derive_network
from simulators.sumo.netparse import read_net
from simulators.sumo.programs import ProgramStep, plan_program

NET = """<net version="1.20">
  <location netOffset="0.00,0.00" convBoundary="-100,-100,100,100" projParameter="!"/>
  <edge id="WJ" from="W" to="J" shape="-100,0 -50,5 0,0">
    <lane id="WJ_0" index="0" speed="13.89" length="98.0" shape="-100,-1 0,-1"/>
    <lane id="WJ_1" index="1" speed="13.89" length="98.0" shape="-100,1 0,1"/>
  </edge>
  <edge id="-s#1" from="S" to="J">
    <lane id="-s#1_0" index="0" speed="8.33" length="95.0" shape="0,-100 0,-5"/>
  </edge>
  <edge id="JE" from="J" to="E">
    <lane id="JE_0" index="0" speed="13.89" length="98.0" shape="0,-1 100,-1"/>
    <lane id="JE_1" index="1" speed="13.89" length="98.0" shape="0,1 100,1"/>
  </edge>
  <edge id="JN" from="J" to="N">
    <lane id="JN_0" index="0" speed="13.89" length="98.0" shape="0,5 0,100"/>
  </edge>
  <tlLogic id="J" type="static" programID="0" offset="0">
    <phase duration="30" state="GGgrr"/>
    <phase duration="3" state="yyyrr"/>
    <phase duration="20" state="rrrGG"/>
    <phase duration="3" state="rrryy"/>
    <phase duration="2" state="rrrrr"/>
  </tlLogic>
  <junction id="W" type="dead_end" x="-100.00" y="0.00"/>
  <junction id="J" type="traffic_light" x="0.00" y="0.00"/>
  <junction id="E" type="dead_end" x="100.00" y="0.00"/>
  <junction id="S" type="dead_end" x="0.00" y="-100.00"/>
  <junction id="N" type="dead_end" x="0.00" y="100.00"/>
  <connection from="WJ" to="JE" fromLane="0" toLane="0" tl="J" linkIndex="0" dir="s"/>
  <connection from="WJ" to="JE" fromLane="1" toLane="1" tl="J" linkIndex="1" dir="s"/>
  <connection from="WJ" to="JN" fromLane="1" toLane="0" tl="J" linkIndex="2" dir="l"/>
  <connection from="-s#1" to="JN" fromLane="0" toLane="0" tl="J" linkIndex="3" dir="s"/>
  <connection from="-s#1" to="JE" fromLane="0" toLane="0" tl="J" linkIndex="4" dir="r"/>
</net>
"""

ORIGIN = Origin(2.35, 48.85)  # Paris
Derived = tuple[Network, dict[str, SignalData]]


@pytest.fixture
def derived(tmp_path: Path) -> Derived:
    path = tmp_path / "t.net.xml"
    path.write_text(NET)
    info = read_net(path)
    return derive_network(info, loop_specs(info), ORIGIN, "t")


def test_ids_that_cannot_be_topic_levels_are_mapped_stably() -> None:
    assert safe_id("A0B0_1") == "A0B0_1"  # clean ids stay
    mapped = safe_id("-s#1")
    assert ID_PATTERN.match(mapped) and mapped == safe_id("-s#1")
    assert safe_id("-s#1") != safe_id("-s#2") and safe_id("a b") != safe_id("a_b")
    assert len(safe_id("x" * 200)) <= 64 and ID_PATTERN.match(safe_id("x" * 200))


def test_sites_links_and_detectors_at_real_coordinates(derived: Derived) -> None:
    network, _ = derived
    (site,) = network.sites
    assert site.id == "J" and site.kind is SiteKind.JUNCTION
    assert (site.lon, site.lat) == (2.35, 48.85)
    s_edge = safe_id("-s#1")
    links = {ln.id: ln for ln in network.links}
    assert set(links) == {"WJ", s_edge, "JE", "JN"}
    wj = links["WJ"]
    assert wj.lanes == 2 and wj.to_site == "J" and wj.from_site is None
    assert wj.road_class is RoadClass.URBAN and wj.free_flow_kmh == pytest.approx(50.0, abs=0.01)
    assert len(wj.coordinates) == 3  # the edge's own shape
    east = links["JE"]  # 100 m east of the origin
    assert haversine_m(*east.coordinates[0], *east.coordinates[1]) == pytest.approx(100.0, rel=1e-3)
    assert east.coordinates[1][1] == pytest.approx(48.85, abs=1e-9)
    assert links["JN"].coordinates[1][1] > 48.85  # y is north
    dets = {d.id: d for d in network.detectors}
    assert set(dets) == {
        "WJ_0.s",
        "WJ_0.u",
        "WJ_0.a",
        "WJ_1.s",
        "WJ_1.u",
        "WJ_1.a",
        safe_id("-s#1_0.s"),
        safe_id("-s#1_0.u"),
        safe_id("-s#1_0.a"),
    }
    assert dets["WJ_1.s"].lane == 2 and dets["WJ_0.s"].lane == 1  # lanes from the kerb
    # the 98 m lane: stop-line loop STOP_LOOP_M (5 m) before its end, upstream loop 12 m after
    # its start, advance loop ADVANCE_LOOP_M (60 m) before its end
    assert dets["WJ_0.s"].position_m == pytest.approx(98.0 - STOP_LOOP_M)
    assert dets["WJ_0.u"].position_m == 12.0
    assert dets["WJ_0.a"].position_m == pytest.approx(98.0 - ADVANCE_LOOP_M)  # 60 m before
    assert all(d.site == "J" for d in dets.values())
    assert [g.id for g in network.gateways] == ["gw-J"]


def test_signal_groups_and_phases_from_the_program(derived: Derived) -> None:
    network, signals = derived
    j = network.junction("J")
    assert j is not None
    s_edge = safe_id("-s#1")
    groups = {g.id: g for g in j.signal_groups}
    assert set(groups) == {"WJ.1", "WJ.2", safe_id("-s#1.1")}
    assert groups["WJ.1"].movements == (Movement("WJ", (1, 2), "JE"),)
    assert groups["WJ.2"].movements == (Movement("WJ", (2,), "JN"),)
    assert groups[safe_id("-s#1.1")].movements == (
        Movement(s_edge, (1,), "JE"),
        Movement(s_edge, (1,), "JN"),
    )
    assert [(p.id, set(p.signal_groups)) for p in j.phases] == [
        ("P1", {"WJ.1", "WJ.2"}),
        ("P2", {safe_id("-s#1.1")}),
    ]
    assert (j.yellow_s, j.all_red_s, j.local_plan) == (3.0, 2.0, "0")
    data = signals["J"]
    assert data.green_states == {"P1": "GGgrr", "P2": "rrrGG"}
    assert data.program_phase_names == ("P1", "P1-yellow", "P2", "P2-yellow", "P2-allred")


def test_a_valid_plan_becomes_a_program_with_its_greens_and_intergreens(derived: Derived) -> None:
    network, signals = derived
    j = network.junction("J")
    assert j is not None
    plan = {
        "type": "plan",
        "site": "J",
        "version": 3,
        "valid_from": "2026-01-01T00:00:00Z",
        "valid_until": "2026-01-01T01:00:00Z",
        "cycle_s": 65.0,
        "yellow_s": 3.0,
        "all_red_s": 2.0,
        "phases": [
            {"id": "P2", "signal_groups": [safe_id("-s#1.1")], "green_s": 25.0},
            {"id": "P1", "signal_groups": ["WJ.2", "WJ.1"], "green_s": 30.0},
        ],
    }
    assert validate_plan(j, plan) == []
    assert plan_program(signals["J"], plan) == [
        ProgramStep(25.0, "rrrGG", "P2"),
        ProgramStep(3.0, "rrryy", "P2-yellow"),
        ProgramStep(2.0, "rrrrr", "P2-allred"),
        ProgramStep(30.0, "GGgrr", "P1"),
        ProgramStep(3.0, "yyyrr", "P1-yellow"),
        ProgramStep(2.0, "rrrrr", "P1-allred"),
    ]
    # a plan that would show conflicting groups green together is refused before it runs
    bad = dict(
        plan, phases=[{"id": "X", "signal_groups": ["WJ.1", safe_id("-s#1.1")], "green_s": 60.0}]
    )
    assert any("conflicting" in p for p in validate_plan(j, bad))
