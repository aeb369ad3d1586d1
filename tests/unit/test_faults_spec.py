"""The fault spec: string form, files (JSON and YAML), durations, and readable refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulators.faults import Fault, FaultSpecError, FaultType, fault_plan, parse_faults
from simulators.faults.spec import parse_duration_s


def test_string_form_with_every_type() -> None:
    faults = parse_faults(
        "stuck:detector=LA-7*|LA-8*,at=1h,for=30m;"
        " dropout:site=S1,p=0.5 ; noise:sd=0.2,share=0.25;"
        "dead:gateway=gw-1,at=10m,for=5m;duplicate:copies=2;reorder:delay=3;"
        "skew:gateway=gw-2,offset=-90s;malformed:kind=json|nan,p=0.1"
    )
    assert [f.type for f in faults] == list(FaultType)
    stuck, dropout, noise, dead, dup, reorder, skew, malformed = faults
    assert stuck.detector == ("LA-7*", "LA-8*") and stuck.at_s == 3600 and stuck.for_s == 1800
    assert dropout.site == ("S1",) and dropout.p == 0.5 and dropout.for_s is None
    assert noise.sd == 0.2 and noise.share == 0.25
    assert dead.gateway == ("gw-1",) and dead.at_s == 600 and dead.for_s == 300
    assert dup.copies == 2 and reorder.delay == 3
    assert skew.offset_s == -90.0
    assert malformed.kinds == ("json", "nan") and malformed.p == 0.1


def test_detector_ids_with_colons_survive() -> None:
    (f,) = parse_faults("stuck:detector=J1-1:N1|J1-2:*")
    assert f.detector == ("J1-1:N1", "J1-2:*")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds
    assert parse_duration_s("-" + text) == -seconds


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("melt:at=1h", "unknown fault type 'melt'"),
        ("stuck:offset=1h", "unknown key(s) ['offset']"),
        ("dead:detector=D1", "unknown key(s) ['detector']"),
        ("duplicate:detector=D1", "unknown key(s) ['detector']"),
        ("skew:gateway=g", "needs offset"),
        ("stuck:at=soon", "'soon' is not a duration"),
        ("noise:p=0", "p and share must be in (0, 1]"),
        ("noise:share=1.5", "p and share must be in (0, 1]"),
        ("dropout:for=0", "for must be > 0"),
        ("dropout:at=-5m", "at must be >= 0"),
        ("duplicate:copies=1.5", "not a whole number"),
        ("malformed:kind=binary", "kind must be among"),
        ("stuck:at", "is not KEY=VALUE"),
        ("stuck:at=1,at=2", "given twice"),
        ("noise:sd=x", "'x' is not a number"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(text: str, fragment: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_faults(text)
    assert fragment in str(info.value)


def test_json_and_yaml_files(tmp_path: Path) -> None:
    spec = [
        {"type": "stuck", "detector": ["A", "B"], "at": 600, "for": "1h"},
        {"type": "skew", "offset": "2h"},
    ]
    jpath = tmp_path / "faults.json"
    jpath.write_text(json.dumps({"seed": 7, "faults": spec}))
    ypath = tmp_path / "faults.yaml"
    ypath.write_text(
        "- type: stuck\n  detector: [A, B]\n  at: 600\n  for: 1h\n- type: skew\n  offset: 2h\n"
    )
    plan_j = fault_plan(str(jpath), tmp_path / "gt.jsonl")
    plan_y = fault_plan("@" + str(ypath))
    assert plan_j is not None and plan_y is not None
    assert plan_j.faults == plan_y.faults
    assert plan_j.faults[0] == Fault(FaultType.STUCK, detector=("A", "B"), at_s=600, for_s=3600)
    assert plan_j.seed == 7 and plan_y.seed == 1
    assert plan_j.ground_truth == tmp_path / "gt.jsonl"
    assert fault_plan(str(jpath), seed=3) is not None
    assert fault_plan(str(jpath), seed=3).seed == 3  # type: ignore[union-attr]


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(FaultSpecError, match="No such file"):
        fault_plan(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FaultSpecError, match="not valid JSON/YAML"):
        fault_plan(str(bad))
    bad.write_text('{"faults": {"type": "stuck"}}')
    with pytest.raises(FaultSpecError, match="expected a list"):
        fault_plan(str(bad))


def test_empty_spec_is_no_plan() -> None:
    assert fault_plan(None) is None
    assert fault_plan("  ") is None
    assert fault_plan(" ; ") is None


def test_params_in_ground_truth_are_json_friendly() -> None:
    (f,) = parse_faults("skew:gateway=g1,offset=2h,at=5m")
    assert f.params() == {
        "at_s": 300.0,
        "for_s": None,
        "gateway": ["g1"],
        "p": 1.0,
        "share": 1.0,
        "offset_s": 7200.0,
    }
