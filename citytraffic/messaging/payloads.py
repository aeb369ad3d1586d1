"""MQTT payload contract v1 (JSON; schemas in docs/schemas/, described in docs/mqtt.md).

Every message from a gateway carries `schema` (its type and version), `gateway`, a per-gateway
message sequence number `seq`, the `site` and a source timestamp `ts` (RFC 3339, UTC offset
required). A detector reading is identified by (site, detector, ts); `ts` is the END of the
measurement interval. Decoding is strict (types, id patterns, sizes) and fast (msgspec);
physical range checks are not schema errors: they become quality flags on the stored reading.
JSON has no NaN or infinity: msgspec refuses the `NaN` token and numbers that overflow a double
(`1e999`), so every decoded float is finite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from citytraffic.domain.errors import PayloadError
from citytraffic.domain.network import ID_REGEX

Id = Annotated[str, msgspec.Meta(pattern=ID_REGEX)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]
IntervalS = Annotated[int, msgspec.Meta(ge=1, le=3600)]
Count = Annotated[int, msgspec.Meta(ge=-(2**31), le=2**31)]
SignalStateString = Annotated[
    str, msgspec.Meta(pattern=r"^[GgyYrRuUoOs]{1,64}$(?!\n)", max_length=64)
]
Text = Annotated[str, msgspec.Meta(max_length=64)]

MAX_PAYLOAD_BYTES = 256 * 1024


# gc=False: only scalar fields, so never part of a reference cycle; the ingest decodes thousands
# a second and the garbage collector need not track them.
class DetectorValue(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    detector: Id
    count: Count | None = None
    occupancy: float | None = None  # fraction 0..1 of the interval
    speed_kmh: float | None = None  # None when no vehicle passed


class DetectorBatch(
    msgspec.Struct, tag_field="schema", tag="traffic.detectors/1", forbid_unknown_fields=True
):
    gateway: Id
    seq: Seq
    site: Id
    ts: UtcTime
    interval_s: IntervalS
    readings: Annotated[list[DetectorValue], msgspec.Meta(min_length=1, max_length=1024)]


class SingleReading(
    msgspec.Struct,
    tag_field="schema",
    tag="traffic.reading/1",
    forbid_unknown_fields=True,
    omit_defaults=True,
):
    gateway: Id
    seq: Seq
    site: Id
    ts: UtcTime
    interval_s: IntervalS
    detector: Id
    count: Count | None = None
    occupancy: float | None = None
    speed_kmh: float | None = None


class SignalState(
    msgspec.Struct,
    tag_field="schema",
    tag="traffic.signal/1",
    forbid_unknown_fields=True,
    omit_defaults=True,
):
    gateway: Id
    seq: Seq
    site: Id
    ts: UtcTime
    plan: Text
    phase: Text
    state: SignalStateString  # SUMO-style, one character per signal group / link
    time_to_change_s: float | None = None


class GatewayStatus(
    msgspec.Struct,
    tag_field="schema",
    tag="traffic.status/1",
    forbid_unknown_fields=True,
    omit_defaults=True,
):
    gateway: Id
    status: Literal["online", "offline"]
    ts: UtcTime | None = None  # absent in the last will (it is composed at connect time)


Message = DetectorBatch | SingleReading | SignalState | GatewayStatus
TOPIC_KIND: dict[type, str] = {
    DetectorBatch: "detectors",
    SingleReading: "reading",
    SignalState: "signal",
    GatewayStatus: "status",
}

_decoder = msgspec.json.Decoder(Message)
_encoder = msgspec.json.Encoder()


def encode(message: Message) -> bytes:
    return _encoder.encode(message)


def decode(payload: bytes, topic_kind: str, topic_key: str) -> Message:
    """Decode and check one payload against the topic it came on. Raises PayloadError."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadError("oversized", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        message: Message = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        raise PayloadError("schema", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise PayloadError("malformed_json", str(exc)) from None
    except UnicodeDecodeError as exc:  # invalid UTF-8 inside a JSON string
        raise PayloadError("malformed_json", f"invalid UTF-8: {exc.reason}") from None
    if TOPIC_KIND[type(message)] != topic_kind:
        raise PayloadError("wrong_topic", f"{message.__class__.__name__} on a {topic_kind} topic")
    key = message.gateway if isinstance(message, GatewayStatus) else message.site
    if key != topic_key:
        raise PayloadError("topic_mismatch", f"payload names {key!r}, topic names {topic_key!r}")
    _check_unique_detectors(message)
    return message


def _check_unique_detectors(message: Message) -> None:
    if isinstance(message, DetectorBatch) and len({r.detector for r in message.readings}) != len(
        message.readings
    ):
        raise PayloadError("schema", "a detector appears twice in one batch")
