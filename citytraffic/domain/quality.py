"""Per-reading range checks (domain.md section 2).

A reading that fails a range check is still stored, with its flags in the `quality` field, so the
data stays visible and the flag travels with it. Flags are short snake_case codes joined by `;`;
`ok` means no flag. Detector-level health (stuck, intermittent, dead) needs history and lives in
the conditions/health engine.
"""

from __future__ import annotations

from dataclasses import dataclass

QUALITY_OK = "ok"


@dataclass(frozen=True, slots=True)
class RangeLimits:
    max_speed_kmh: float = 200.0
    max_flow_vph_per_lane: float = 3000.0


DEFAULT_LIMITS = RangeLimits()


def range_flags(
    count: int | None,
    occupancy: float | None,
    speed_kmh: float | None,
    interval_s: int,
    limits: RangeLimits = DEFAULT_LIMITS,
) -> str:
    """Return `ok` or the `;`-joined flags of one detector reading."""
    flags: list[str] = []
    if interval_s <= 0:
        return "interval_invalid"
    if count is not None:
        if count < 0:
            flags.append("count_negative")
        elif count * 3600.0 / interval_s > limits.max_flow_vph_per_lane:
            flags.append("flow_above_max")
    if occupancy is not None and not 0.0 <= occupancy <= 1.0:
        flags.append("occupancy_out_of_range")
    if speed_kmh is not None and not 0.0 <= speed_kmh <= limits.max_speed_kmh:
        flags.append("speed_out_of_range")
    if count is not None and occupancy is not None:
        if count > 0 and occupancy == 0.0:
            flags.append("count_without_occupancy")
        elif count == 0 and occupancy > 0.0:
            flags.append("occupancy_without_count")
    return ";".join(flags) if flags else QUALITY_OK
