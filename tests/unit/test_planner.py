"""Webster and HCM on textbook cases; expected values computed by hand in the comments."""

from __future__ import annotations

import json
import math

import pytest

from control.planner import LaneGroupFlow, PhaseSpec, PlannerConfig, PlanRejected, suggest_plan


def two_phase(
    q1: float, q2: float, **phase_kw: float
) -> tuple[list[LaneGroupFlow], list[PhaseSpec]]:
    groups = [
        LaneGroupFlow("NS", q1, 1800.0, approach="north-south"),
        LaneGroupFlow("EW", q2, 1800.0, approach="east-west"),
    ]
    phases = [PhaseSpec("p1", ("NS",), **phase_kw), PhaseSpec("p2", ("EW",), **phase_kw)]
    return groups, phases


def test_webster_cycle_splits_and_hcm_delay_textbook() -> None:
    # y1 = 540/1800 = 0.3, y2 = 360/1800 = 0.2, Y = 0.5; L = 2 phases x 4 s = 8 s
    # C0 = (1.5*8 + 5) / (1 - 0.5) = 17 / 0.5 = 34 s (inside 30..120)
    # g1 = (34 - 8) * 0.3/0.5 = 15.6 s ; g2 = 26 * 0.2/0.5 = 10.4 s
    groups, phases = two_phase(540, 360)
    plan = suggest_plan(groups, phases)
    assert not isinstance(plan, PlanRejected)
    assert plan.webster_cycle_s == pytest.approx(34.0)
    assert plan.cycle_s == pytest.approx(34.0)
    assert plan.flow_ratio_sum == pytest.approx(0.5)
    assert [p.effective_green_s for p in plan.phases] == pytest.approx([15.6, 10.4])
    # displayed green G = g - (3 + 2) + 4 = g - 1
    assert [p.green_s for p in plan.phases] == pytest.approx([14.6, 9.4])
    ns = plan.groups[0]
    # g/C = 15.6/34 = 0.458824 ; c = 1800 * 0.458824 = 825.88 veh/h ; X = 540/825.88 = 0.653846
    assert ns.capacity_vph == pytest.approx(825.9, abs=0.1)
    assert ns.degree_of_saturation == pytest.approx(0.6538, abs=1e-4)
    # d1 = 0.5*34*(1-0.458824)^2 / (1 - 0.653846*0.458824) = 17*0.292872/0.7 = 7.1127 s
    assert ns.uniform_delay_s == pytest.approx(7.1127, abs=1e-3)
    # d2 = 900*0.25*[(X-1) + sqrt((X-1)^2 + 8*0.5*1*X/(825.88*0.25))]
    #    = 225*[-0.346154 + sqrt(0.119822 + 0.012667)] = 225*0.017840 = 4.014 s
    assert ns.incremental_delay_s == pytest.approx(4.014, abs=2e-3)
    assert ns.delay_s == pytest.approx(11.127, abs=3e-3)
    # EW: g/C = 10.4/34 = 0.305882, c = 550.59, X = 0.653846 (equal X: Webster equalises X)
    ew = plan.groups[1]
    assert ew.degree_of_saturation == pytest.approx(0.6538, abs=1e-4)
    # total = flow-weighted mean of the two approaches
    expected_total = (ns.delay_s * 540 + ew.delay_s * 360) / 900
    assert plan.total_delay_s == pytest.approx(expected_total, abs=1e-3)
    assert plan.delay_by_approach_s["north-south"] == pytest.approx(ns.delay_s, abs=1e-3)
    assert not plan.over_capacity


def test_short_cycle_is_clamped_to_minimum() -> None:
    # Y = 0.1 -> C0 = 17 / 0.9 = 18.89 s < 30 s -> 30 s, with a note saying so
    groups, phases = two_phase(90, 90)
    plan = suggest_plan(groups, phases)
    assert not isinstance(plan, PlanRejected)
    assert plan.webster_cycle_s == pytest.approx(18.89, abs=0.01)
    assert plan.cycle_s == 30.0
    assert any("clamped" in n for n in plan.notes)
    # (30 - 8) shared equally: 11 s effective each
    assert [p.effective_green_s for p in plan.phases] == pytest.approx([11.0, 11.0])


def test_over_capacity_is_flagged_not_hidden() -> None:
    # Y = 0.5 + 0.45 = 0.95 >= 0.9: C0 = 17 / 0.05 = 340 s -> 120 s, over capacity
    groups, phases = two_phase(900, 810)
    plan = suggest_plan(groups, phases)
    assert not isinstance(plan, PlanRejected)
    assert plan.over_capacity
    assert plan.cycle_s == 120.0
    # Y >= 1: no Webster cycle, maximum cycle, X > 1 and a large d2
    groups, phases = two_phase(1080, 900)
    plan = suggest_plan(groups, phases)
    assert not isinstance(plan, PlanRejected)
    assert plan.webster_cycle_s is None and plan.cycle_s == 120.0 and plan.over_capacity
    assert max(g.degree_of_saturation for g in plan.groups) > 1.0
    assert plan.groups[0].incremental_delay_s > 60


def test_minimum_green_and_pedestrian_clearance_are_respected() -> None:
    # tiny EW flow: Webster would give EW ~1 s of green; its pedestrians need 12 s displayed
    groups = [LaneGroupFlow("NS", 900, 1800), LaneGroupFlow("EW", 18, 1800)]
    phases = [PhaseSpec("p1", ("NS",)), PhaseSpec("p2", ("EW",), pedestrian_clearance_s=12.0)]
    plan = suggest_plan(groups, phases)
    assert not isinstance(plan, PlanRejected)
    ew = plan.phases[1]
    assert ew.green_s >= 12.0 - 1e-9
    assert ew.minimum_green_s == 12.0
    # greens plus lost time fill the cycle exactly
    assert sum(p.effective_green_s for p in plan.phases) + plan.lost_time_s == pytest.approx(
        plan.cycle_s, abs=0.05
    )


def test_minimums_that_do_not_fit_raise_the_cycle() -> None:
    cfg = PlannerConfig(cycle_min_s=30, cycle_max_s=40)
    groups, phases = two_phase(90, 90, min_green_s=20.0)
    plan = suggest_plan(groups, phases, cfg)
    assert not isinstance(plan, PlanRejected)
    # each phase needs g >= 20 + 5 - 4 = 21 s effective: 2*21 + 8 = 50 s > 40 s maximum
    assert plan.cycle_s == pytest.approx(50.0)
    assert any("exceeds maximum" in n for n in plan.notes)


@pytest.mark.parametrize(
    ("groups", "phases"),
    [
        ([LaneGroupFlow("a", -5, 1800)], [PhaseSpec("p", ("a",))]),
        ([LaneGroupFlow("a", 100, 0)], [PhaseSpec("p", ("a",))]),
        ([LaneGroupFlow("a", 100, 1800)], [PhaseSpec("p", ("zz",))]),
        ([LaneGroupFlow("a", math.nan, 1800)], [PhaseSpec("p", ("a",))]),
        ([LaneGroupFlow("a", 1, 1800), LaneGroupFlow("b", 1, 1800)], [PhaseSpec("p", ("a",))]),
        ([], []),
    ],
)
def test_bad_input_is_a_rejection(groups: list[LaneGroupFlow], phases: list[PhaseSpec]) -> None:
    result = suggest_plan(groups, phases)
    assert isinstance(result, PlanRejected)
    assert result.reasons
    assert result.to_dict()["ok"] is False


def test_plan_explains_itself_as_json() -> None:
    groups, phases = two_phase(540, 360)
    plan = suggest_plan(groups, phases)
    assert not isinstance(plan, PlanRejected)
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["ok"] is True
    assert d["inputs"]["lane_groups"][0]["flow_vph"] == 540
    assert "C0 = (1.5 L + 5) / (1 - Y)" in d["formulas"]["webster_cycle"]
    assert d["phases"][0]["critical_group"] == "NS"
