"""Detector samples and the unit conversions of domain.md section 1.

A `DetectorSample` is one stored reading of measurement `detector` (ADR 4): the END of the
interval in `time_ns`, count / occupancy (0..1) / speed (km/h), each possibly absent (METR-LA
stations have speed only), and the stored `quality` (`ok` or `;`-joined flags).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import msgspec

from citytraffic.domain.quality import DEFAULT_LIMITS, QUALITY_OK, RangeLimits, range_flags


class DetectorSample(msgspec.Struct, frozen=True, kw_only=True):
    detector: str
    time_ns: int  # end of the measurement interval, ns since the epoch (UTC)
    interval_s: int
    count: int | None = None
    occupancy: float | None = None  # fraction 0..1
    speed_kmh: float | None = None
    quality: str = QUALITY_OK
    receive_time_ns: int | None = None  # when the server got it, if known (clock-skew check)


def sample_from_fields(
    detector: str, time_ns: int, fields: Mapping[str, object]
) -> DetectorSample | None:
    """Build a sample from the fields of a stored `detector` point; None if it is unusable.

    Numbers of the wrong type or non-finite become absent values; a missing or non-positive
    `interval_s` makes the whole row unusable (flow cannot be computed).
    """
    interval = fields.get("interval_s")
    if isinstance(interval, bool) or not isinstance(interval, int | float) or interval <= 0:
        return None
    quality = fields.get("quality")
    return DetectorSample(
        detector=detector,
        time_ns=time_ns,
        interval_s=int(interval),
        count=_int(fields.get("count")),
        occupancy=_float(fields.get("occupancy")),
        speed_kmh=_float(fields.get("speed_kmh")),
        quality=quality if isinstance(quality, str) and quality else QUALITY_OK,
        receive_time_ns=_int(fields.get("receive_time_ns")),
    )


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _int(value: object) -> int | None:
    number = _float(value)
    return None if number is None else int(number)


def split_flags(quality: str) -> tuple[str, ...]:
    """`ok` -> (); `a;b` -> ("a", "b")."""
    return tuple(f for f in quality.split(";") if f and f != QUALITY_OK)


def reading_flags(sample: DetectorSample, limits: RangeLimits = DEFAULT_LIMITS) -> tuple[str, ...]:
    """The stored flags plus a fresh range check (domain/quality.py), sorted, without dupes."""
    if sample.quality == QUALITY_OK and sample.interval_s > 0:  # the common case, fast
        fresh = range_flags(
            sample.count, sample.occupancy, sample.speed_kmh, sample.interval_s, limits
        )
        return () if fresh == QUALITY_OK else tuple(sorted(set(fresh.split(";"))))
    flags = set(split_flags(sample.quality))
    if sample.interval_s <= 0:
        flags.add("interval_invalid")
    else:
        flags.update(
            split_flags(
                range_flags(
                    sample.count, sample.occupancy, sample.speed_kmh, sample.interval_s, limits
                )
            )
        )
    return tuple(sorted(flags))


def flow_vph(count: float, interval_s: float) -> float:
    """q [veh/h] = count x 3600 / interval_s."""
    return count * 3600.0 / interval_s


def density_from_flow_speed(flow_vph: float, speed_kmh: float) -> float:
    """k [veh/km] = q / v."""
    return flow_vph / speed_kmh


def density_from_occupancy(occupancy: float, effective_length_m: float = 7.5) -> float:
    """k [veh/km] = occ x 1000 / L_eff (occ = k x L_eff / 1000)."""
    return occupancy * 1000.0 / effective_length_m


def occupancy_from_density(density_vpkm: float, effective_length_m: float = 7.5) -> float:
    return density_vpkm * effective_length_m / 1000.0


def speed_from_flow_occupancy(
    flow_vph: float, occupancy: float, effective_length_m: float = 7.5
) -> float:
    """Single-loop speed estimate v = q / k with k from occupancy (the PeMS g-factor method)."""
    return flow_vph / density_from_occupancy(occupancy, effective_length_m)


def vpkm_to_pc_per_mile(density_vpkm: float, passenger_car_equivalent: float = 1.0) -> float:
    """veh/km -> pc/mi (1 mi = 1.609344 km)."""
    return density_vpkm * 1.609344 * passenger_car_equivalent
