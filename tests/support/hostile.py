"""The hostile-input oracle shared by the hypothesis tests and the atheris fuzz target.

`check_payload(topic, payload, receive_ns)` runs what the ingest runs on one MQTT message
(topic parsing, `payloads.decode`, `LineBuilder` and the reference `to_points` + `LineEncoder`)
and raises AssertionError when an invariant breaks:

- nothing raises but `PayloadError` (decode) and `LineProtocolError` (only for values the
  line protocol cannot carry: a newline or NUL in free text, a time outside int64 ns);
- an accepted topic is exactly `traffic/v1/{site|gateway}/<id>/<kind>`: no wildcard, no `$`;
- a decoded message holds ids that match the id pattern and finite numbers only;
- its line protocol, parsed by the strict reference parser, is exactly one point per reading
  (one per other message) with the tags of the message, no more, no other: no extra point, no
  changed tag; the hot path and the reference conversion write the same text.

Returns the outcome the ingest must reach: `points`, `future` (quarantined: the source time is
more than the tolerance ahead of `receive_ns`; checked before encoding, as the ingest does),
`unknown_topic`, `unencodable` or the decoder's reason.
"""

from __future__ import annotations

import math

from citytraffic.domain.errors import PayloadError
from citytraffic.domain.network import ID_PATTERN
from citytraffic.messaging import payloads, topics
from citytraffic.storage.lineprotocol import INT64_MAX, INT64_MIN, LineEncoder, LineProtocolError
from citytraffic.storage.points import FieldValue
from ingest.convert import is_future, source_time_ns, time_ns, to_points
from ingest.lines import LineBuilder
from support.lineparser import ParsedLine, parse_line


def check_topic(topic: str) -> topics.ParsedTopic | None:
    parsed = topics.parse_topic(topic)
    if parsed is not None:
        scope = "gateway" if parsed.kind == "status" else "site"
        assert topic == f"traffic/v1/{scope}/{parsed.key}/{parsed.kind}", topic
        assert ID_PATTERN.match(parsed.key) and not any(c in topic for c in "+#$\x00"), topic
    return parsed


def check_payload(
    topic: str, payload: bytes, receive_ns: int = 0, future_tolerance_s: float = 120.0
) -> str:
    return checked_points(topic, payload, receive_ns, future_tolerance_s)[0]


def checked_points(
    topic: str, payload: bytes, receive_ns: int = 0, future_tolerance_s: float = 120.0
) -> tuple[str, list[ParsedLine]]:
    """`check_payload`, also returning the points (parsed lines) when the outcome is `points`."""
    parsed = check_topic(topic)
    if parsed is None:
        return "unknown_topic", []
    try:
        message = payloads.decode(payload, parsed.kind, parsed.key)
    except PayloadError as exc:
        assert exc.reason in payloads_reasons(), exc.reason
        return exc.reason, []
    check_message(message)
    source_ns = source_time_ns(message)
    future = source_ns is not None and is_future(source_ns, receive_ns, future_tolerance_s)
    try:
        lines = LineBuilder().lines(message, receive_ns)
    except LineProtocolError:
        assert unencodable(message, receive_ns), f"refused an encodable message: {message!r}"
        return ("future" if future else "unencodable"), []
    assert not unencodable(message, receive_ns), f"encoded an unencodable message: {message!r}"
    reference = [LineEncoder().line(p) for p in to_points(message, receive_ns)]
    assert lines == reference, (lines, reference)
    parsed_lines = [parse_line(line) for line in lines]
    assert same_points(parsed_lines, expected_points(message, receive_ns)), (message, lines)
    return ("future", []) if future else ("points", parsed_lines)


def payloads_reasons() -> set[str]:
    return {"oversized", "schema", "malformed_json", "wrong_topic", "topic_mismatch"}


def check_message(m: payloads.Message) -> None:
    """Ids match the id pattern; every number is finite; a batch names each detector once."""
    ids = [m.gateway] if isinstance(m, payloads.GatewayStatus) else [m.gateway, m.site]
    numbers: list[float | int | None] = []
    if isinstance(m, payloads.DetectorBatch):
        ids += [r.detector for r in m.readings]
        assert len({r.detector for r in m.readings}) == len(m.readings)
        numbers += [x for r in m.readings for x in (r.count, r.occupancy, r.speed_kmh)]
    elif isinstance(m, payloads.SingleReading):
        ids.append(m.detector)
        numbers += [m.count, m.occupancy, m.speed_kmh]
    elif isinstance(m, payloads.SignalState):
        numbers.append(m.time_to_change_s)
    assert all(ID_PATTERN.match(i) for i in ids), ids
    assert all(x is None or math.isfinite(x) for x in numbers), numbers


def unencodable(m: payloads.Message, receive_ns: int) -> bool:
    """What the line protocol cannot carry: newline / CR / NUL in free text, time beyond int64."""
    t = receive_ns if m.ts is None else time_ns(m.ts)
    texts = [m.plan, m.phase] if isinstance(m, payloads.SignalState) else []
    bad_text = any(c in s for s in texts for c in "\n\r\x00")
    return bad_text or not INT64_MIN <= t <= INT64_MAX


def expected_points(m: payloads.Message, receive_ns: int) -> list[ParsedLine]:
    """The points a message must become, written down from the contract (docs/mqtt.md), not
    from the conversion code: measurement, exact tag set, the values, the source time."""
    if isinstance(m, payloads.GatewayStatus):
        t = receive_ns if m.ts is None else time_ns(m.ts)
        fields: dict[str, FieldValue] = {"status": m.status, "online": m.status == "online"}
        return [("gateway_status", {"gateway": m.gateway}, fields, t)]
    t = time_ns(m.ts)
    if isinstance(m, payloads.SignalState):
        fields = {"plan": m.plan, "phase": m.phase, "state": m.state}
        if m.time_to_change_s is not None:
            fields["time_to_change_s"] = m.time_to_change_s
        fields |= {"seq": m.seq, "gateway": m.gateway}
        return [("signal", {"site": m.site}, fields, t)]
    values = (
        m.readings
        if isinstance(m, payloads.DetectorBatch)
        else [payloads.DetectorValue(m.detector, m.count, m.occupancy, m.speed_kmh)]
    )
    out: list[ParsedLine] = []
    for r in values:
        got = {"count": r.count, "occupancy": r.occupancy, "speed_kmh": r.speed_kmh}
        fields = {k: v for k, v in got.items() if v is not None}
        fields |= {"interval_s": m.interval_s, "seq": m.seq, "gateway": m.gateway}
        out.append(("detector", {"detector": r.detector, "site": m.site}, fields, t))
    return out


def same_points(parsed: list[ParsedLine], expected: list[ParsedLine]) -> bool:
    """Equal with the same value types; a detector point's derived `quality` (range flags, domain
    logic) must be a non-empty string and is not compared."""
    stripped: list[ParsedLine] = []
    for measurement, tags, fields, t in parsed:
        if measurement == "detector":
            quality = fields.get("quality")
            if not isinstance(quality, str) or not quality:
                return False
            fields = {k: v for k, v in fields.items() if k != "quality"}
        stripped.append((measurement, tags, fields, t))
    return [_typed(p) for p in stripped] == [_typed(p) for p in expected]


def _typed(p: ParsedLine) -> tuple[object, ...]:
    measurement, tags, fields, t = p
    return measurement, tags, {k: (type(v).__name__, v) for k, v in fields.items()}, t
