"""The adaptive and max-pressure controllers on a two-phase junction fed with loop batches."""

from __future__ import annotations

from datetime import UTC, datetime

from citytraffic.messaging.payloads import DetectorBatch, DetectorValue
from control.adaptive import ClearingController, ClearingParams
from control.controllers import make_controller
from control.layout import Approach, JunctionLayout, SignalLink
from control.max_pressure import MaxPressure
from control.phasing import SignalStatus

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def approach(edge: str) -> Approach:
    return Approach(
        edge,
        2,
        200.0,
        13.9,
        (f"{edge}_0.s", f"{edge}_1.s"),
        (f"{edge}_0.u", f"{edge}_1.u"),
        loop_gap_m=185.0,
    )


def junction() -> JunctionLayout:
    # phase 0 serves north->south, phase 1 west->east; "out_s"/"out_e" are downstream approaches
    links = (SignalLink(0, "north", "out_s", "s"), SignalLink(1, "west", "out_e", "s"))
    apps = {e: approach(e) for e in ("north", "west")}
    return JunctionLayout("J", links, ("Gr", "rG"), apps, 3.0, 0.0)


def downstream() -> JunctionLayout:
    links = (SignalLink(0, "out_s", "x", "s"), SignalLink(1, "out_e", "y", "s"))
    apps = {e: approach(e) for e in ("out_s", "out_e")}
    return JunctionLayout("K", links, ("Gr", "rG"), apps, 3.0, 0.0)


def arrivals(counts: dict[str, int]) -> list[DetectorBatch]:
    readings = [DetectorValue(f"{e}_0.u", n, 0.1, 30.0) for e, n in counts.items()]
    return [DetectorBatch("gw", 0, "J", T0, 1, readings)]


def status(phase: int, elapsed: float) -> dict[str, SignalStatus]:
    return {"J": SignalStatus(phase, False, elapsed, (0.0, 0.0))}


def test_anticipates_a_platoon_on_the_red_approach() -> None:
    ctrl = ClearingController({"J": junction()})
    # 4 vehicles cross the west upstream loop at 30 km/h, about 15 s from the stop line; nobody
    # comes on the green approach: switch now so that they arrive on green
    assert ctrl.decide(0.0, arrivals({"west": 4}), status(0, 10.0)) == {"J": 1}


def test_keeps_green_for_an_arriving_platoon_on_the_green_approach() -> None:
    ctrl = ClearingController({"J": junction()})
    # a big platoon about to arrive on the green approach, one vehicle on the red one
    ctrl.decide(0.0, arrivals({"north": 6, "west": 1}), status(0, 10.0))
    assert all(ctrl.decide(float(t), [], status(0, 10.0 + t)) == {} for t in range(10, 16))


def test_nobody_waiting_anywhere_keeps_the_current_green() -> None:
    ctrl = ClearingController({"J": junction()})
    for t in range(60):
        assert ctrl.decide(float(t), [], status(0, 10.0 + t)) == {}


def test_minimum_green_is_respected() -> None:
    ctrl = ClearingController({"J": junction()})
    ctrl.decide(0.0, arrivals({"west": 6}), status(0, 1.0))
    assert ctrl.decide(30.0, [], status(0, 2.0)) == {}


def test_spill_back_a_full_downstream_link_is_all_but_not_served() -> None:
    layouts = {"J": junction(), "K": downstream()}
    free = ClearingController(layouts)
    full = ClearingController(layouts)
    both = {
        "J": SignalStatus(0, False, 10.0, (0.0, 0.0)),
        "K": SignalStatus(0, False, 10.0, (0.0, 0.0)),
    }
    # out_e (downstream of west) is full: 2 lanes x 200 m / 7.5 m = 53 vehicles
    jam = [DetectorBatch("gw", 0, "K", T0, 1, [DetectorValue("out_e_0.u", 60)])]
    full.decide(0.0, jam, both)
    free.decide(0.0, [], both)
    for ctrl in (free, full):
        ctrl.decide(1.0, arrivals({"west": 5}), status(0, 11.0))
    r_free = free.rate(layouts["J"], 1, 30.0, False)
    r_full = full.rate(layouts["J"], 1, 30.0, False)
    assert r_free > 0
    assert r_full < 0.1 * r_free  # discharge scaled to the 5 % blocked share, never zero
    assert r_full > 0


def test_discharge_scales_with_the_free_share_of_the_downstream_link() -> None:
    layouts = {"J": junction(), "K": downstream()}
    ctrl = ClearingController(layouts)
    both = {
        "J": SignalStatus(0, False, 10.0, (0.0, 0.0)),
        "K": SignalStatus(0, False, 10.0, (0.0, 0.0)),
    }
    assert ctrl._edge_factor(layouts["J"], "west", 1) == 1.0  # empty both sides
    # out_e holds 2 x 200 / 7.5 = 53.3 vehicles; fill it to half of spill_full (0.85)
    n = round(0.425 * 400 / 7.5)
    ctrl.decide(0.0, [DetectorBatch("gw", 0, "K", T0, 1, [DetectorValue("out_e_0.u", n)])], both)
    fill = ctrl.estimator.fill("out_e")
    expected = 1.0 - fill / ctrl.p.spill_full * ctrl.p.downstream_weight
    assert abs(ctrl._edge_factor(layouts["J"], "west", 1) - expected) < 1e-9
    assert 0.45 < expected < 0.55  # a half-full link downstream halves the discharge


def test_max_pressure_serves_the_larger_pressure_at_slot_ends() -> None:
    mp = make_controller("max_pressure", {"J": junction()})
    assert isinstance(mp, MaxPressure)
    assert mp.decide(0.0, arrivals({"west": 6, "north": 2}), status(0, 5.0)) == {"J": 1}
    assert mp.decide(1.0, [], status(0, 6.0)) == {}  # not a slot boundary
    assert mp.decide(2.0, [], status(1, 10.0)) == {}  # already serving the larger pressure


def test_a_congested_junction_is_controlled_by_pressure_at_slot_ends() -> None:
    ctrl = ClearingController({"J": junction()})
    # 20 vehicles north (green) and 30 west: 38 % and 56 % of the 53-vehicle storage, over the
    # 30 % at which the junction turns to pressure control; pressures 10 and 15 vehicles/lane
    batches = arrivals({"north": 20, "west": 30})
    assert not ctrl.congested(ctrl.layouts["J"])
    assert ctrl.decide(0.0, batches, status(0, 11.0)) == {}  # not a 5 s slot boundary
    assert ctrl.congested(ctrl.layouts["J"])
    assert ctrl.decide(1.0, [], status(0, 15.0)) == {"J": 1}
    assert ctrl.decide(2.0, [], status(1, 15.0)) == {}  # already serving the larger pressure


def test_a_pressure_gain_within_the_margin_is_not_worth_a_switch() -> None:
    ctrl = ClearingController({"J": junction()})
    # pressures 10 (north, green) and 12 vehicles/lane: a gain of 2 < the 3 a switch must win
    ctrl.decide(0.0, arrivals({"north": 20, "west": 24}), status(0, 11.0))
    assert ctrl.congested(ctrl.layouts["J"])
    assert ctrl.decide(1.0, [], status(0, 15.0)) == {}
    plain = MaxPressure({"J": junction()})
    plain.decide(0.0, arrivals({"north": 20, "west": 24}), status(0, 11.0))
    assert plain.decide(1.0, [], status(0, 15.0)) == {"J": 1}


def test_below_the_congestion_threshold_decisions_are_the_clearing_rules() -> None:
    default = ClearingController({"J": junction()})
    clearing_only = ClearingController({"J": junction()}, ClearingParams(pressure_fill=2.0))
    phase, since = 0, 0.0
    decided = 0
    for t in range(240):
        # a few vehicles a second in both directions, never 30 % of the storage
        batches = arrivals({"north": int(t % 3 == 0), "west": int(t % 4 == 0)}) if t < 200 else []
        st = status(phase, t - since)
        got = default.decide(float(t), batches, st)
        assert got == clearing_only.decide(float(t), batches, st)
        assert not default.congested(default.layouts["J"])
        if got:
            phase, since = got["J"], t + 3.0
            decided += 1
    assert decided >= 4  # the rule did switch, both ways


def test_in_congestion_mode_a_phase_red_for_max_red_is_served_whatever_the_pressures() -> None:
    ctrl = ClearingController({"J": junction()})
    ctrl.decide(0.0, arrivals({"north": 40, "west": 2}), status(0, 11.0))
    assert ctrl.congested(ctrl.layouts["J"])
    # west has the lower pressure but has been red since t = 0
    west_red_since = {"J": SignalStatus(0, False, 95.0, (0.0, 0.0))}
    assert ctrl.decide(95.0, [], west_red_since) == {}  # red for 95 s: pressure still rules
    west_red_since = {"J": SignalStatus(0, False, 100.0, (0.0, 0.0))}
    assert ctrl.decide(100.0, [], west_red_since) == {"J": 1}
