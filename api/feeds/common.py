"""What every feed serialiser reads (`FeedInput`), publisher identity, and shared helpers.

Pure: no clock, no store, no HTTP. The snapshot refresh builds one `FeedInput` and the
serialisers turn it into bytes once; requests only send those bytes.
"""

from __future__ import annotations

import itertools
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from api.snapshot import DetectorCondition
from citytraffic.conditions import DetectorConditions, DetectorHealth, LinkConditions
from citytraffic.domain.network import Link, Network, haversine_m

__all__ = [
    "DATEX_STATUS_VALUES",
    "FeedContext",
    "FeedInput",
    "SignalRow",
    "StatusBands",
    "point_along",
    "stable_uuid",
    "traffic_status",
]


@dataclass(frozen=True, slots=True)
class FeedContext:
    publisher: str = "citytraffic"
    country: str = "fr"  # ISO 3166-1 alpha-2, lower case (DATEX II)
    national_identifier: str = "citytraffic"
    language: str = "en"
    contact_email: str | None = None
    update_frequency_s: int = 60


@dataclass(frozen=True, slots=True)
class SignalRow:
    """The latest stored signal state of a junction (measurement `signal`)."""

    site: str
    time_ns: int
    plan: str
    phase: str
    state: str


@dataclass(frozen=True, slots=True)
class FeedInput:
    network: Network
    published_ns: int  # newest data time: publicationTime, Last-Modified
    now_ns: int
    links: Mapping[str, LinkConditions] = field(default_factory=dict)
    detectors: Mapping[str, DetectorConditions] = field(default_factory=dict)
    health: Mapping[str, DetectorHealth] = field(default_factory=dict)
    readings: Sequence[DetectorCondition] = ()  # the latest reading per detector
    signals: Mapping[str, SignalRow] = field(default_factory=dict)
    stale_after_s: float = 600.0


# DATEX II v3 TrafficStatusEnum (roadTrafficData), without the `_extended` escape value.
DATEX_STATUS_VALUES = (
    "freeFlow",
    "heavy",
    "slow",
    "queuing",
    "stationary",
    "unspecifiedAbnormal",
    "unknown",
    "other",
)


@dataclass(frozen=True, slots=True)
class StatusBands:
    """Speed as a share of free-flow speed -> TrafficStatusEnum, after the DATEX II definitions
    of the values and Finland's Digitraffic profile (domain.md section 3): stationary < 10%,
    queuing 10-25%, slow 25-75%, freeFlow above; `heavy` when the link is flagged congested
    at a speed that is still above the slow band (dense but moving)."""

    stationary_below: float = 0.10
    queuing_below: float = 0.25
    slow_below: float = 0.75


def traffic_status(c: LinkConditions | None, bands: StatusBands = StatusBands()) -> str:
    """The DATEX II v3 traffic status of a link; `unknown` without fresh, unflagged data."""
    if c is None or c.stale or c.speed_ratio is None or c.los is None:
        return "unknown"
    ratio = c.speed_ratio
    if ratio < bands.stationary_below:
        return "stationary"
    if ratio < bands.queuing_below:
        return "queuing"
    if ratio < bands.slow_below:
        return "slow"
    return "heavy" if c.congested else "freeFlow"


def point_along(link: Link, position_m: float) -> tuple[float, float]:
    """(lon, lat) at `position_m` along the link's polyline (clamped to its ends)."""
    coords = link.coordinates
    remaining = max(0.0, position_m)
    for (lon1, lat1), (lon2, lat2) in itertools.pairwise(coords):
        step = haversine_m(lon1, lat1, lon2, lat2)
        if step > 0 and remaining <= step:
            f = remaining / step
            return (round(lon1 + f * (lon2 - lon1), 7), round(lat1 + f * (lat2 - lat1), 7))
        remaining -= step
    return coords[-1]


def stable_uuid(*parts: str) -> str:
    """A UUID (RFC 4122 v5) that stays the same for the same parts: WZDx device ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "citytraffic:" + ":".join(parts)))


def rounded(value: float | None, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)
