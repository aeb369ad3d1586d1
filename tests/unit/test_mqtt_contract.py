"""docs/mqtt.md's contract and the code agree: every example validates against its JSON Schema
and decodes with `payloads.decode`; every bad payload is refused by both; topics are checked."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from citytraffic.domain.errors import PayloadError
from citytraffic.messaging import payloads, topics

DOCS = Path(__file__).resolve().parents[2] / "docs"
KIND_OF_TAG = {
    "traffic.detectors/1": "detectors",
    "traffic.reading/1": "reading",
    "traffic.signal/1": "signal",
    "traffic.status/1": "status",
}
EXAMPLES = sorted((DOCS / "examples").glob("*.json"))


def _validator(kind: str) -> Draft202012Validator:
    schema = json.loads((DOCS / "schemas" / f"{kind}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def _key(obj: dict[str, Any], kind: str) -> str:
    return str(obj["gateway"] if kind == "status" else obj["site"])


def _decode(obj: dict[str, Any], kind: str) -> payloads.Message:
    return payloads.decode(json.dumps(obj).encode(), kind, _key(obj, kind))


def test_every_payload_kind_has_a_schema_and_an_example() -> None:
    kinds = {KIND_OF_TAG[json.loads(p.read_text())["schema"]] for p in EXAMPLES}
    assert kinds == set(KIND_OF_TAG.values()) == set(payloads.TOPIC_KIND.values())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_validates_and_decodes(path: Path) -> None:
    obj = json.loads(path.read_text())
    kind = KIND_OF_TAG[obj["schema"]]
    errors = list(_validator(kind).iter_errors(obj))
    assert not errors, [e.message for e in errors]
    message = _decode(obj, kind)
    assert payloads.TOPIC_KIND[type(message)] == kind
    # encoding the decoded message gives the example back (no field lost or renamed)
    assert json.loads(payloads.encode(message)) == obj


def _example(kind: str) -> dict[str, Any]:
    name = {"status": "status-online"}.get(kind, kind)
    return dict(json.loads((DOCS / "examples" / f"{name}.json").read_text()))


def _mutate(kind: str, path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(_example(kind))
    target: Any = obj
    for step in path[:-1]:
        target = target[step]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


DELETE = object()
BAD: list[tuple[str, str, tuple[str | int, ...], Any]] = [
    ("missing schema tag", "reading", ("schema",), DELETE),
    ("unknown schema version", "reading", ("schema",), "traffic.reading/2"),
    ("missing seq", "detectors", ("seq",), DELETE),
    ("negative seq", "detectors", ("seq",), -1),
    ("seq beyond int64", "signal", ("seq",), 2**63),
    ("seq as string", "reading", ("seq",), "7"),
    ("ts without offset", "detectors", ("ts",), "2026-03-02T07:00:00"),
    ("ts as date only", "reading", ("ts",), "2026-03-02"),
    ("ts as epoch number", "reading", ("ts",), 1772434800),
    ("ts hour 24", "signal", ("ts",), "2026-03-02T24:00:00Z"),
    ("interval 0", "detectors", ("interval_s",), 0),
    ("interval beyond an hour", "reading", ("interval_s",), 3601),
    ("empty batch", "detectors", ("readings",), []),
    ("reading without detector", "detectors", ("readings", 0, "detector"), DELETE),
    ("unknown reading field", "detectors", ("readings", 0, "flow_vph"), 100),
    ("unknown top-level field", "signal", ("extra",), 1),
    ("count as string", "detectors", ("readings", 0, "count"), "6"),
    ("count as bool", "reading", ("count",), True),
    ("count beyond int32", "reading", ("count",), 2**31 + 1),
    ("occupancy as string", "reading", ("occupancy",), "0.1"),
    ("speed as list", "detectors", ("readings", 1, "speed_kmh"), [30]),
    ("site with a slash", "reading", ("detector",), "a/b"),
    ("gateway with a wildcard", "detectors", ("gateway",), "gw+1"),
    ("empty gateway", "signal", ("gateway",), ""),
    ("id of 65 characters", "reading", ("detector",), "d" * 65),
    ("non-ascii id", "reading", ("detector",), "Stephansplatz-Süd"),
    ("bad signal state", "signal", ("state",), "GRX"),
    ("empty signal state", "signal", ("state",), ""),
    ("plan longer than 64", "signal", ("plan",), "p" * 65),
    ("status maybe", "status", ("status",), "maybe"),
    ("status without gateway", "status", ("gateway",), DELETE),
    ("status ts garbage", "status", ("ts",), "yesterday"),
]


@pytest.mark.parametrize(("why", "kind", "path", "value"), BAD, ids=[b[0] for b in BAD])
def test_bad_payload_is_refused_by_schema_and_decoder(
    why: str, kind: str, path: tuple[str | int, ...], value: Any
) -> None:
    obj = _mutate(kind, path, value)
    assert list(_validator(kind).iter_errors(obj)), f"schema accepts: {why}"
    key = obj.get("gateway", "gw") if kind == "status" else obj.get("site", "J1-2")
    with pytest.raises(PayloadError):
        payloads.decode(json.dumps(obj).encode(), kind, str(key or "x"))


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("reading", ("detector",), "J1-2:E1\n"),
        ("detectors", ("gateway",), "gw-J1-2\n"),
        ("signal", ("state",), "GrGr\n"),
    ],
    ids=["detector", "gateway", "state"],
)
def test_a_trailing_newline_is_refused_by_schema_and_decoder(
    kind: str, path: tuple[str | int, ...], value: str
) -> None:
    """A newline would end an InfluxDB line-protocol line: `$` must not match before it."""
    obj = _mutate(kind, path, value)
    assert list(_validator(kind).iter_errors(obj))
    with pytest.raises(PayloadError):
        _decode(obj, kind)


def test_decoder_only_rules_documented_in_mqtt_md() -> None:
    """Rules JSON Schema cannot state: the decoder enforces them, docs/mqtt.md lists them."""
    batch = _example("detectors")
    batch["readings"].append(dict(batch["readings"][0]))  # a detector twice in one batch
    assert not list(_validator("detectors").iter_errors(batch))
    with pytest.raises(PayloadError, match="twice"):
        _decode(batch, "detectors")
    reading = _example("reading")
    with pytest.raises(PayloadError) as exc:
        payloads.decode(json.dumps(reading).encode(), "reading", "J9-9")
    assert exc.value.reason == "topic_mismatch"
    with pytest.raises(PayloadError) as exc:
        payloads.decode(json.dumps(reading).encode(), "detectors", "J1-2")
    assert exc.value.reason == "wrong_topic"
    with pytest.raises(PayloadError) as exc:
        payloads.decode(b"x" * (payloads.MAX_PAYLOAD_BYTES + 1), "reading", "J1-2")
    assert exc.value.reason == "oversized"
    doc = (DOCS / "mqtt.md").read_text()
    for rule in ("twice", "topic_mismatch", "wrong_topic", "oversized", "256 KiB"):
        assert rule in doc


@pytest.mark.parametrize("bad", ["J+1", "J#", "a/b", "", "$SYS", "J 1", "gw\x00"])
def test_topic_helpers_refuse_wildcards_and_bad_levels(bad: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.site_topic(bad, "detectors")
    with pytest.raises(topics.TopicError):
        topics.gateway_status_topic(bad)


@pytest.mark.parametrize(
    "topic", ["traffic/v1/site/+/detectors", "traffic/v1/#", "", "$SYS/broker/load", "a/#/b"]
)
def test_publish_topic_check_refuses_wildcards_and_reserved(topic: str) -> None:
    with pytest.raises(topics.TopicError):
        topics.check_publish_topic(topic)


def test_topic_scheme_matches_the_docs() -> None:
    assert topics.site_topic("J1-2", "detectors") == "traffic/v1/site/J1-2/detectors"
    assert topics.site_topic("J1-2", "signal") == "traffic/v1/site/J1-2/signal"
    assert topics.site_topic("J1-2", "plan") == "traffic/v1/site/J1-2/plan"
    assert topics.gateway_status_topic("gw-J1-2") == "traffic/v1/gateway/gw-J1-2/status"
    assert topics.shared(topics.DETECTOR_FILTER, "ingest") == (
        "$share/ingest/traffic/v1/site/+/detectors"
    )
    with pytest.raises(topics.TopicError):
        topics.site_topic("J1-2", "secrets")
    doc = (DOCS / "mqtt.md").read_text()
    for text in (
        "traffic/v1/site/<site>/detectors",
        "traffic/v1/site/<site>/reading",
        "traffic/v1/site/<site>/signal",
        "traffic/v1/site/<site>/plan",
        "traffic/v1/gateway/<gateway>/status",
        "$share/",
    ):
        assert text in doc
