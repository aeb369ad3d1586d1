"""Hostile MQTT input: arbitrary bytes and near-valid payloads (newlines, commas, `=`, quotes,
backslashes, NaN/inf tokens, huge numbers, oversized payloads) on real and wildcard / `$SYS`
topics. No input crashes the decoder, and an accepted one becomes exactly the points the
contract says, checked by the strict reference parser (support/hostile.py is the oracle; the
atheris target in fuzz/ uses the same one). The last property runs the real Pipeline."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.hostile import check_payload, check_topic, checked_points
from support.lineparser import parse_line

from citytraffic.domain.errors import PayloadError
from citytraffic.messaging import payloads, topics
from citytraffic.messaging.client import Received
from citytraffic.settings import IngestSettings
from ingest.deadletter import JsonlLog
from ingest.metrics import IngestMetrics
from ingest.pipeline import Pipeline
from ingest.spool import Spool

NOW_NS = 1_900_000_000 * 10**9  # 2030: later source times are "future"
HOSTILE = [*"\n\r\t ,=\"'\\/#+$\x00\x1e\u2028é😀{}[]:", "\\n", '\\"', "\\\\", "$SYS", "NaN"]
hostile_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE), st.characters(codec="utf-8")), min_size=0, max_size=16
).map("".join)
good_id = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,12}\Z")


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` nine times in ten: most payloads get far enough to become points."""
    return st.integers(0, 9).flatmap(lambda i: bad if i == 0 else good)


ids = mostly(good_id, st.one_of(hostile_text, st.builds(lambda a, b: a + b, good_id, hostile_text)))


class Raw(str):
    """A JSON token written as it is (NaN, Infinity, 1e999: not valid JSON numbers)."""


RAW = [Raw(t) for t in ("NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "-0", "1e-400")]
bad_numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from(RAW),
    st.sampled_from([2**31 + 1, -(2**31) - 1, 2**63, 0, -1, 3601, 1e308, 5e-324, "1", True]),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
numbers = mostly(st.one_of(st.none(), finite), bad_numbers)
counts = mostly(st.one_of(st.none(), st.integers(-(2**31), 2**31)), bad_numbers)
seqs = mostly(st.integers(0, 2**63 - 1), bad_numbers)
intervals = mostly(st.integers(1, 3600), bad_numbers)
times = mostly(
    st.builds(
        lambda d, offset_min: d.replace(tzinfo=timezone(timedelta(minutes=offset_min))).isoformat(),
        st.datetimes(datetime(1970, 1, 1), datetime(2200, 1, 1)),
        st.integers(-14 * 60, 14 * 60),
    ),
    st.sampled_from(
        [
            "2026-01-01T00:00:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999+14:00",
            "1677-09-21T00:12:43Z",
            "2262-04-11T23:47:17Z",
            "2024-02-30T00:00:00Z",
            "",
        ]
    ),
)


def to_json(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, bytes]:
    """A near-valid payload and a topic that mostly agrees with it."""
    kind = draw(st.sampled_from(["detectors", "reading", "signal", "status"]))
    site, gateway = draw(ids), draw(ids)
    head: dict[str, Any] = {"gateway": gateway, "seq": draw(seqs), "ts": draw(times)}
    if kind == "detectors":
        reading = st.fixed_dictionaries(
            {"detector": ids},
            optional={"count": counts, "occupancy": numbers, "speed_kmh": numbers},
        )
        many = draw(st.integers(0, 40)) == 0  # past the 1024 readings limit, or just below
        size = draw(st.sampled_from([1023, 1025])) if many else draw(st.integers(0, 16))
        if many:
            readings = [{"detector": f"D{i}", "count": i} for i in range(size)]
        else:
            readings = draw(
                mostly(
                    st.lists(
                        reading,
                        min_size=max(size, 1),
                        max_size=max(size, 1),
                        unique_by=lambda r: r["detector"],
                    ),
                    st.lists(reading, min_size=size, max_size=size),
                )
            )
        doc = {
            "schema": "traffic.detectors/1",
            **head,
            "site": site,
            "interval_s": draw(intervals),
            "readings": readings,
        }
    elif kind == "reading":
        doc = {
            "schema": "traffic.reading/1",
            **head,
            "site": site,
            "interval_s": draw(intervals),
            "detector": draw(ids),
            "count": draw(counts),
            "speed_kmh": draw(numbers),
        }
    elif kind == "signal":
        doc = {
            "schema": "traffic.signal/1",
            **head,
            "site": site,
            "plan": draw(hostile_text),
            "phase": draw(hostile_text),
            "state": draw(mostly(st.just("GGrr"), st.sampled_from(["G\nr", "x", "G" * 65]))),
            "time_to_change_s": draw(numbers),
        }
    else:
        doc = {
            "schema": "traffic.status/1",
            "gateway": gateway,
            "status": draw(mostly(st.sampled_from(["online", "offline"]), st.just("online\n"))),
        }
        if draw(st.booleans()):
            doc["ts"] = draw(times)
    if draw(st.integers(0, 9)) == 0:
        doc.pop(draw(st.sampled_from(sorted(doc))))
    if draw(st.integers(0, 9)) == 0:
        doc[draw(hostile_text)] = draw(numbers)
    body = to_json(doc).encode()
    if draw(st.integers(0, 30)) == 0:  # a byte that is not UTF-8, inside a string
        body = body.replace(b'":"', b'":"' + draw(st.sampled_from([b"\xff", b"\x9d", b"\xc3("])), 1)
    if draw(st.integers(0, 30)) == 0:  # oversized: valid JSON padded past the limit
        body += b" " * (payloads.MAX_PAYLOAD_BYTES - len(body) + draw(st.integers(-1, 2)))
    key = gateway if kind == "status" else site
    scope = "gateway" if kind == "status" else "site"
    topic = draw(
        mostly(
            st.just(f"traffic/v1/{scope}/{key}/{kind}"),
            st.builds(lambda k: f"traffic/v1/{scope}/{k}/{kind}", ids)
            | st.sampled_from(
                [
                    "traffic/v1/site/+/detectors",
                    "traffic/v1/#",
                    "$SYS/broker/load",
                    "$share/g/traffic/v1/site/J1/detectors",
                    "traffic/v1/site//reading",
                    "traffic/v1/site/J1/detectors/x",
                    "/traffic/v1/site/J1/signal",
                ]
            ),
        )
    )
    return topic, body


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_near_valid_payloads_never_crash_and_never_change_a_point(doc: tuple[str, bytes]) -> None:
    check_payload(*doc, receive_ns=NOW_NS)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048), st.sampled_from(["detectors", "reading", "signal", "status"]))
def test_arbitrary_bytes_never_crash_the_decoder(payload: bytes, kind: str) -> None:
    scope = "gateway" if kind == "status" else "site"
    check_payload(f"traffic/v1/{scope}/J1/{kind}", payload, NOW_NS)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            hostile_text,
            good_id,
            st.sampled_from(
                [
                    "traffic",
                    "v1",
                    "site",
                    "gateway",
                    "detectors",
                    "reading",
                    "signal",
                    "status",
                    "plan",
                    "+",
                    "#",
                    "$SYS",
                    "$share",
                    "",
                ]
            ),
        ),
        min_size=0,
        max_size=7,
    )
)
def test_topics_accepted_only_when_exactly_ours(levels: list[str]) -> None:
    topic = "/".join(levels)
    parsed = check_topic(topic)
    if any(c in topic for c in "+#$"):
        assert parsed is None
    if topic and not any(c in topic for c in "+#\x00") and not topic.startswith("$"):
        assert topics.check_publish_topic(topic) == topic


class LineStore:
    """A store taking line protocol; every body must parse strictly."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write_lines(self, body: bytes) -> None:
        for line in body.decode().split("\n"):
            parse_line(line)
            self.lines.append(line)

    def write(self, points: object) -> None:
        raise AssertionError("the line path is used for a store with write_lines")

    def close(self) -> None:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=1, max_size=12))
def test_the_pipeline_accounts_for_every_hostile_message(docs: list[tuple[str, bytes]]) -> None:
    """Each message is acked once and ends as points, a dead letter or a quarantine record."""
    checked = [checked_points(t, b, NOW_NS) for t, b in docs]
    outcomes = [outcome for outcome, _ in checked]
    acked: list[int] = []
    store = LineStore()
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        dead, quarantine = JsonlLog(root / "dead.jsonl"), JsonlLog(root / "q.jsonl")
        pipeline = Pipeline(
            store,  # type: ignore[arg-type]
            IngestSettings(),
            Spool(root / "spool"),
            dead,
            quarantine,
            IngestMetrics(),
            lambda ms: acked.extend(m.mid for m in ms) or 0,  # type: ignore[func-returns-value]
            clock_ns=lambda: NOW_NS,
        )
        for mid, (topic, body) in enumerate(docs):
            pipeline.handle(Received(topic, body, 1, mid, False, False, 1))
        pipeline.commit()
        assert acked == list(range(len(docs)))
        assert len(quarantine.read()) == outcomes.count("future")
        assert len(dead.read()) == len(docs) - outcomes.count("points") - outcomes.count("future")
        # exactly the points the contract says, each once: none extra, none changed
        assert sorted(map(repr, (parse_line(line) for line in store.lines))) == sorted(
            repr(p) for _, points in checked for p in points
        )


def test_invalid_utf8_inside_a_string_is_a_payload_error() -> None:
    """Found by the atheris target: it used to escape decode() as UnicodeDecodeError (and the
    ingest acked such a message without a dead letter)."""
    body = b'{"schema":"traffic.status/1","gateway":"g\x9d","status":"online"}'
    with pytest.raises(PayloadError):
        payloads.decode(body, "status", "g")


def test_a_publish_topic_with_a_lone_surrogate_is_a_topic_error() -> None:
    with pytest.raises(topics.TopicError):
        topics.check_publish_topic("traffic/v1/site/\ud800/detectors")
