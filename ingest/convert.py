"""Decoded MQTT messages -> storage points (the reference conversion).

Measurements (tags | fields):
    detector        site, detector | count(int), occupancy, speed_kmh, interval_s(int), seq(int),
                                     gateway(str), quality(str: range flags or `ok`)
    signal          site           | plan, phase, state, time_to_change_s, seq(int), gateway
    gateway_status  gateway        | status(str), online(bool)

Readings and signal states are stamped with their *source* timestamp, never with server time, so
a redelivered message overwrites the same points instead of duplicating them. Only a gateway
status without `ts` (the last will, composed at connect time) is stamped with the receive time.
Absent values (None) are simply not written. `ingest.lines.LineBuilder` produces the same line
protocol for detector readings without building Point objects (the hot path); a unit test keeps
the two identical.
"""

from __future__ import annotations

from datetime import UTC, datetime

from citytraffic.domain.quality import RangeLimits, range_flags
from citytraffic.messaging import payloads
from citytraffic.storage.points import FieldValue, Point

DETECTOR = "detector"
SIGNAL = "signal"
GATEWAY_STATUS = "gateway_status"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def time_ns(ts: datetime) -> int:
    """Exact integer nanoseconds since the epoch of an aware datetime (no float rounding)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def source_time_ns(message: payloads.Message) -> int | None:
    """The source timestamp of a message; None for a status without one."""
    return None if message.ts is None else time_ns(message.ts)


def is_future(t_ns: int, now_ns: int, tolerance_s: float) -> bool:
    """A timestamp further ahead of server time than the tolerance (domain.md section 2)."""
    return t_ns - now_ns > tolerance_s * 1e9


def detector_fields(
    count: int | None,
    occupancy: float | None,
    speed_kmh: float | None,
    interval_s: int,
    seq: int,
    gateway: str,
    limits: RangeLimits,
) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {}
    if count is not None:
        fields["count"] = count
    if occupancy is not None:
        fields["occupancy"] = occupancy
    if speed_kmh is not None:
        fields["speed_kmh"] = speed_kmh
    fields["interval_s"] = interval_s
    fields["seq"] = seq
    fields["gateway"] = gateway
    fields["quality"] = range_flags(count, occupancy, speed_kmh, interval_s, limits)
    return fields


def to_points(
    message: payloads.Message, receive_ns: int, limits: RangeLimits | None = None
) -> list[Point]:
    """The points one decoded message stores. `receive_ns` is used for a status without ts."""
    limits = limits or RangeLimits()
    if isinstance(message, payloads.DetectorBatch):
        t = time_ns(message.ts)
        return [
            Point(
                DETECTOR,
                (("detector", r.detector), ("site", message.site)),
                detector_fields(
                    r.count,
                    r.occupancy,
                    r.speed_kmh,
                    message.interval_s,
                    message.seq,
                    message.gateway,
                    limits,
                ),
                t,
            )
            for r in message.readings
        ]
    if isinstance(message, payloads.SingleReading):
        fields = detector_fields(
            message.count,
            message.occupancy,
            message.speed_kmh,
            message.interval_s,
            message.seq,
            message.gateway,
            limits,
        )
        tags = (("detector", message.detector), ("site", message.site))
        return [Point(DETECTOR, tags, fields, time_ns(message.ts))]
    if isinstance(message, payloads.SignalState):
        signal: dict[str, FieldValue] = {
            "plan": message.plan,
            "phase": message.phase,
            "state": message.state,
        }
        if message.time_to_change_s is not None:
            signal["time_to_change_s"] = message.time_to_change_s
        signal["seq"] = message.seq
        signal["gateway"] = message.gateway
        return [Point(SIGNAL, (("site", message.site),), signal, time_ns(message.ts))]
    t_status = receive_ns if message.ts is None else time_ns(message.ts)
    status: dict[str, FieldValue] = {
        "status": message.status,
        "online": message.status == "online",
    }
    return [Point(GATEWAY_STATUS, (("gateway", message.gateway),), status, t_status)]


def reading_count(message: payloads.Message) -> int:
    """How many detector readings a message carries."""
    if isinstance(message, payloads.DetectorBatch):
        return len(message.readings)
    return 1 if isinstance(message, payloads.SingleReading) else 0
