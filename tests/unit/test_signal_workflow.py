"""Plan validation, the controller-side applicability rule, withholding and concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citytraffic.network_file import load_network
from control.plans import plan_applicable, plan_message, validate_plan
from control.suggestions import DetectorInput, Withheld, compute, junction_inputs, local_greens_s
from control.workflow import Conflict, Issued, SignalBook

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NET = load_network(EXAMPLE)
J1 = NET.junction("J1")
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def readings(**overrides: DetectorInput) -> dict[str, DetectorInput]:
    base = {
        d: DetectorInput(d, flow, "ok", 30.0, "ok")
        for d, flow in (("J1-W-1", 700.0), ("J1-W-2", 600.0), ("J1-E-1", 500.0), ("J1-S-1", 240.0))
    }
    base.update(overrides)
    return base


def good_message() -> dict[str, object]:
    assert J1 is not None
    inputs = junction_inputs(NET, J1, readings(), 300.0)
    assert not isinstance(inputs, Withheld)
    computed = compute(inputs, "J1", local_greens_s(J1, 90.0), "local")
    assert not isinstance(computed, Withheld)
    return plan_message(J1, computed.plan, 1, NOW, 3600, "s1")


def test_suggested_plan_is_valid_and_beats_the_equal_split_local_plan() -> None:
    assert J1 is not None
    inputs = junction_inputs(NET, J1, readings(), 300.0)
    assert not isinstance(inputs, Withheld)
    # E-1 measures one of the two westbound lanes: its flow counts for both
    assert {g.id: g.flow_vph for g in inputs.groups} == {"EW": 700 + 600 + 2 * 500, "S": 240}
    computed = compute(inputs, "J1", local_greens_s(J1, 90.0), "local")
    assert not isinstance(computed, Withheld)
    assert computed.expected_benefit["delay_saved_s_per_veh"] > 0
    assert validate_plan(J1, good_message()) == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"yellow_s": 1.0}, "intergreen"),
        ({"cycle_s": 200.0}, "cycle_s"),
        ({"version": 0}, "version"),
        ({"site": "J2"}, "site"),
        ({"valid_until": "2026-03-01T07:00:00Z"}, "valid_from"),
    ],
)
def test_validation_refuses_unsafe_plans(change: dict[str, object], needle: str) -> None:
    assert J1 is not None
    msg = {**good_message(), **change}
    assert any(needle in p for p in validate_plan(J1, msg))


def test_conflicting_groups_and_short_greens_are_refused() -> None:
    assert J1 is not None
    msg = good_message()
    phases = [dict(p) for p in msg["phases"]]  # type: ignore[attr-defined]
    phases[0]["signal_groups"] = ["EW", "S"]  # never in one phase: they conflict
    problems = validate_plan(J1, {**msg, "phases": phases})
    assert any("conflicting" in p for p in problems)
    phases = [dict(p) for p in msg["phases"]]  # type: ignore[attr-defined]
    phases[1]["green_s"] = 4.0  # S needs 8 s pedestrian clearance
    problems = validate_plan(J1, {**msg, "phases": phases})
    assert any("minimum 8.0" in p for p in problems)


def test_flagged_data_withholds_with_reasons() -> None:
    assert J1 is not None
    cases = {
        "quality 'suspect'": readings(**{"J1-W-1": DetectorInput("J1-W-1", 700, "suspect", 30)}),
        "health bad": readings(**{"J1-S-1": DetectorInput("J1-S-1", 240, "ok", 30, "bad")}),
        "stale": readings(**{"J1-E-1": DetectorInput("J1-E-1", 500, "ok", 900)}),
        "no recent reading": {k: v for k, v in readings().items() if k != "J1-S-1"},
    }
    for needle, given in cases.items():
        result = junction_inputs(NET, J1, given, 300.0)
        assert isinstance(result, Withheld), needle
        assert any(needle in r for r in result.reasons), (needle, result.reasons)


def test_plan_applicable_falls_back_on_expiry_and_lost_link() -> None:
    msg = good_message()
    assert plan_applicable(msg, NOW + timedelta(minutes=5), NOW + timedelta(minutes=4))
    assert not plan_applicable(msg, NOW + timedelta(hours=1), NOW + timedelta(hours=1))
    assert not plan_applicable(msg, NOW - timedelta(seconds=1), NOW)  # not yet valid
    assert not plan_applicable(msg, NOW + timedelta(minutes=30), NOW)  # centre silent 30 min
    assert not plan_applicable(msg, NOW + timedelta(minutes=5), None)
    assert not plan_applicable({"type": "revoked"}, NOW, NOW)
    assert not plan_applicable({**msg, "valid_from": "garbage"}, NOW, NOW)
    # a retained plan read days later is never applied, even with a fresh link
    assert not plan_applicable(msg, NOW + timedelta(days=3), NOW + timedelta(days=3))


def test_second_decision_on_the_same_version_conflicts() -> None:
    book = SignalBook()
    book.issue(Issued("a", "J1", 0, 0, 10, {}))
    book.issue(Issued("b", "J1", 0, 0, 10, {}))
    version = book.begin("J1", 0, "a")
    with pytest.raises(Conflict, match="in progress"):
        book.begin("J1", 0, "b")
    book.finish("J1", version, {"type": "plan"}, "plan", "olga", 5)
    book.decide("a", "accepted", {"by": "olga"})
    with pytest.raises(Conflict, match="based on version 0"):
        book.begin("J1", 0, "b")
    with pytest.raises(Conflict, match="already accepted by olga"):
        book.begin("J1", 1, "a")
    assert book.begin("J1", 1) == 2
    book.abort("J1")
    assert book.junction("J1").version == 1 and not book.junction("J1").busy
