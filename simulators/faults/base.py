"""Small shared pieces of the fault layer: what a transform emits, and value helpers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from citytraffic.messaging import payloads
from simulators.faults.groundtruth import FaultRecord


@dataclass(frozen=True, slots=True)
class RawSend:
    """Bytes to publish as they are (malformed payloads)."""

    topic: str
    payload: bytes


Send = payloads.Message | RawSend


@dataclass(slots=True)
class Step:
    """What to do with one message: `kill` the connection first, or `revive` it, then send."""

    sends: list[Send] = field(default_factory=list)
    records: list[FaultRecord] = field(default_factory=list)
    kill: bool = False
    revive: bool = False


def as_dict(v: payloads.DetectorValue) -> dict[str, float | int | None]:
    """The values of a reading as written to the ground truth."""
    return {"count": v.count, "occupancy": v.occupancy, "speed_kmh": v.speed_kmh}


def normals(u: Sequence[float]) -> list[float]:
    """Standard normal numbers from pairs of uniforms in [0, 1) (Box-Muller)."""
    out: list[float] = []
    for a, b in zip(u[::2], u[1::2], strict=True):
        r = math.sqrt(-2.0 * math.log(1.0 - a))  # 1 - a is in (0, 1]
        out.extend((r * math.cos(2 * math.pi * b), r * math.sin(2 * math.pi * b)))
    return out


def noisy(v: payloads.DetectorValue, sd: float, u: Sequence[float]) -> payloads.DetectorValue:
    """Multiplicative gaussian error (relative `sd`, drawn from the 4 uniforms `u`) on every
    value, kept physical: counts whole and >= 0, occupancy within 0..1, speed >= 0; absent
    values stay absent."""
    z = normals(u)
    count = None if v.count is None else max(0, round(v.count * (1 + sd * z[0])))
    occ = None
    if v.occupancy is not None:
        occ = min(1.0, max(0.0, v.occupancy * (1 + sd * z[1])))
    speed = None if v.speed_kmh is None else max(0.0, v.speed_kmh * (1 + sd * z[2]))
    return payloads.DetectorValue(v.detector, count, occ, speed)
