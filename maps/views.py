"""What the map shows: small frozen records, independent of the conditions engine's own types.

The builders take these records, not store rows or engine objects; an adapter from another
module's records to these is a few lines. Colours for level of service (LOS) and detector health
live here so that the Python side (legend, tests) and the browser side (the runtime restyles
features from `los`/`status`) use one palette: the builder passes it into the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

__all__ = [
    "HEALTH_COLORS",
    "INCIDENT_COLORS",
    "LOS_COLORS",
    "LOS_LABELS",
    "LOS_LETTERS",
    "UNKNOWN_COLOR",
    "CongestionHeat",
    "DetectorHealthView",
    "HeatPoint",
    "IncidentView",
    "JunctionView",
    "LinkView",
    "health_color",
    "iso_utc",
    "los_color",
    "normalize_los",
]

LOS_LETTERS: Final = ("A", "B", "C", "D", "E", "F")

LOS_COLORS: Final = MappingProxyType(
    {
        "A": "#1b7837",  # green
        "B": "#7fbc41",  # light green
        "C": "#f2c80f",  # yellow
        "D": "#f28e2b",  # orange
        "E": "#d7301f",  # red
        "F": "#7f0000",  # dark red
    }
)
"""LOS letter -> stroke colour, A (free flow, green) to F (breakdown, dark red)."""

UNKNOWN_COLOR: Final = "#9e9e9e"
"""Links without a current level of service (no data, stale data): grey, dashed."""

LOS_LABELS: Final = MappingProxyType(
    {
        "A": "free flow",
        "B": "reasonably free",
        "C": "stable",
        "D": "approaching unstable",
        "E": "unstable",
        "F": "breakdown",
    }
)

HEALTH_COLORS: Final = MappingProxyType({"ok": "#1b7837", "suspect": "#f28e2b", "bad": "#b2182b"})
"""Detector health status -> marker colour; any other status is drawn in UNKNOWN_COLOR."""

INCIDENT_COLORS: Final = MappingProxyType(
    {"tentative": "#f28e2b", "confirmed": "#b2182b", "cleared": "#4d4d4d"}
)
"""Incident state -> marker colour; any other state is drawn in UNKNOWN_COLOR."""


@dataclass(frozen=True, slots=True)
class LinkView:
    """Current condition of one link. `los` is "A".."F" or None (unknown)."""

    link_id: str
    los: str | None = None
    speed_kmh: float | None = None
    congested: bool | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class JunctionView:
    """Signal state of one junction site: the running phase, how old its newest data is, and the
    text of a timing suggestion waiting for an operator (None when there is none)."""

    site: str
    phase: str | None = None
    data_age_s: float | None = None
    pending_suggestion: str | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    """A detected incident. `state` is e.g. tentative / confirmed / cleared; `confidence` 0..1."""

    id: str
    lon: float
    lat: float
    state: str
    confidence: float | None = None
    start: datetime | None = None
    link: str | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class DetectorHealthView:
    """Health of one detector: `status` ok / suspect / bad, with the reasons behind it."""

    detector: str
    lon: float
    lat: float
    status: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HeatPoint:
    """One point of the historical congestion heat map; `weight` >= 0 (any scale)."""

    lon: float
    lat: float
    weight: float


@dataclass(frozen=True, slots=True)
class CongestionHeat:
    """Heat-map points for the time range [start, end)."""

    points: tuple[HeatPoint, ...]
    start: datetime | None = None
    end: datetime | None = None

    @property
    def label(self) -> str:
        if self.start is None or self.end is None:
            return "Congestion (history)"
        start, end = _utc(self.start), _utc(self.end)
        if start.date() == end.date():
            return f"Congestion {start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC"
        return f"Congestion {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"


def normalize_los(los: str | None) -> str | None:
    """ "A".."F" (any case, surrounding blanks ignored), else None."""
    if not isinstance(los, str):
        return None
    letter = los.strip().upper()
    return letter if letter in LOS_COLORS else None


def los_color(los: str | None) -> str:
    letter = normalize_los(los)
    return LOS_COLORS[letter] if letter is not None else UNKNOWN_COLOR


def health_color(status: str) -> str:
    return HEALTH_COLORS.get(status, UNKNOWN_COLOR)


def finite_or_none(value: float | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def valid_lon_lat(lon: float, lat: float) -> bool:
    lon_f, lat_f = finite_or_none(lon), finite_or_none(lat)
    return lon_f is not None and lat_f is not None and -180 <= lon_f <= 180 and -90 <= lat_f <= 90


def iso_utc(when: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, whole seconds; a naive datetime is taken to be UTC."""
    if when is None:
        return None
    return _utc(when).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _utc(when: datetime) -> datetime:
    aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return aware.astimezone(UTC)
