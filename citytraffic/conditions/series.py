"""From a time series of one detector (or one link cross-section) to its current conditions.

An `Obs` is one interval of per-lane values; the engine builds them from samples (a detector is
one lane) or by combining the lanes of a link. `summarise` turns the newest part of a series into
a `ConditionValues` record: averaged values, density, LOS, congested flag, trend and data age.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import msgspec

from citytraffic.conditions.config import ConditionThresholds
from citytraffic.conditions.los import freeway_los, freeway_speed_los, urban_los
from citytraffic.conditions.obs import NS, Obs
from citytraffic.conditions.samples import (
    density_from_occupancy,
    speed_from_flow_occupancy,
    vpkm_to_pc_per_mile,
)

__all__ = ["NS", "ConditionValues", "Obs", "summarise"]


class ConditionValues(msgspec.Struct, frozen=True, kw_only=True):
    road_class: str
    free_flow_kmh: float
    time_ns: int | None = None  # end of the newest interval used
    data_age_s: float | None = None
    stale: bool = True
    interval_s: int | None = None
    samples: int = 0  # intervals averaged
    flagged_samples: int = 0
    quality: str = "ok"  # union of the flags seen in the window
    flow_vph: float | None = None
    occupancy: float | None = None
    speed_kmh: float | None = None
    speed_basis: str | None = None  # measured | estimated_from_occupancy
    speed_ratio: float | None = None  # speed / free-flow speed
    density_vpkm: float | None = None  # per lane
    density_basis: str | None = None  # flow_speed | occupancy
    los: str | None = None
    los_basis: str | None = None
    los_reason: str | None = None  # why los is null
    congested: bool | None = None
    congested_for_s: float | None = None  # current run of congested intervals
    trend: str | None = None  # building_up | easing | stable
    trend_basis: str | None = None  # speed | occupancy
    speed_slope_kmh_per_min: float | None = None
    occupancy_slope_per_min: float | None = None


def summarise(
    series: Sequence[Obs],
    *,
    road_class: str,
    free_flow_kmh: float,
    now_ns: int,
    th: ConditionThresholds,
    blocked_reason: str | None = None,
) -> ConditionValues:
    """`series` sorted by time. `blocked_reason` (e.g. bad detector health) nulls LOS."""
    base = ConditionValues(road_class=road_class, free_flow_kmh=free_flow_kmh)
    if not series:
        return msgspec.structs.replace(base, los_reason=blocked_reason or "no data")
    last = series[-1]
    start_ns = last.time_ns - th.window_s * NS
    span_ns = max(th.window_s, th.trend_window_s) * NS
    recent = series[bisect.bisect_right(series, last.time_ns - span_ns, key=_time) :]
    window = [o for o in recent if o.time_ns > start_ns]
    good = [o for o in window if not o.flags]
    flags = sorted({f for o in window for f in o.flags})
    used = good or window
    flow, occ, speed, speed_basis = _averages(used, th)
    ratio = speed / free_flow_kmh if speed is not None and free_flow_kmh > 0 else None
    density, density_basis = _density(flow, occ, speed, speed_basis, th)
    age_s = (now_ns - last.time_ns) / NS
    values = msgspec.structs.replace(
        base,
        time_ns=last.time_ns,
        data_age_s=age_s,
        stale=age_s > th.stale_after_s,
        interval_s=last.interval_s,
        samples=len(window),
        flagged_samples=len(window) - len(good),
        quality=";".join(flags) if flags else "ok",
        flow_vph=flow,
        occupancy=occ,
        speed_kmh=speed,
        speed_basis=speed_basis,
        speed_ratio=ratio,
        density_vpkm=density,
        density_basis=density_basis,
    )
    values = _with_trend(values, [o for o in recent if not o.flags], free_flow_kmh, th)
    reason = blocked_reason
    if reason is None and values.stale:
        reason = f"stale: newest reading is {age_s:.0f} s old"
    if reason is None and not good:
        reason = f"readings flagged: {values.quality}"
    if reason is not None:
        return msgspec.structs.replace(values, los_reason=reason)
    return _with_los(values, series, th)


def _averages(
    used: Sequence[Obs], th: ConditionThresholds
) -> tuple[float | None, float | None, float | None, str | None]:
    with_flow = [o for o in used if o.flow_vph_per_lane is not None]
    with_occ = [o for o in used if o.occupancy is not None]
    flow = _time_mean([(o.flow_vph_per_lane or 0.0, o.interval_s) for o in with_flow])
    occ = _time_mean([(o.occupancy or 0.0, o.interval_s) for o in with_occ])
    speed = _speed_mean(used)
    if speed is not None:
        return flow, occ, speed, "measured"
    if flow is not None and occ is not None and occ >= th.min_occupancy_for_speed_estimate:
        est = speed_from_flow_occupancy(flow, occ, th.effective_length_m)
        return flow, occ, min(est, th.max_speed_estimate_kmh), "estimated_from_occupancy"
    return flow, occ, None, None


def _time_mean(pairs: Sequence[tuple[float, int]]) -> float | None:
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total > 0 else None


def _speed_mean(used: Sequence[Obs]) -> float | None:
    """Vehicle-weighted harmonic mean where flows exist (space-mean speed, so that the window's
    q / v equals its density), else the time-weighted arithmetic mean."""
    with_speed = [o for o in used if o.speed_kmh is not None and o.speed_kmh >= 0]
    if not with_speed:
        return None
    if all(o.flow_vph_per_lane is not None for o in with_speed):
        vehicles = sum((o.flow_vph_per_lane or 0.0) * o.interval_s for o in with_speed)
        moving = [o for o in with_speed if (o.speed_kmh or 0.0) > 0]
        if vehicles > 0 and len(moving) == len(with_speed):
            hours = sum(
                (o.flow_vph_per_lane or 0.0) * o.interval_s / (o.speed_kmh or 1.0)
                for o in with_speed
            )
            return vehicles / hours
    return _time_mean([(o.speed_kmh or 0.0, o.interval_s) for o in with_speed])


def _density(
    flow: float | None,
    occ: float | None,
    speed: float | None,
    speed_basis: str | None,
    th: ConditionThresholds,
) -> tuple[float | None, str | None]:
    if (
        flow is not None
        and speed is not None
        and speed_basis == "measured"
        and speed >= th.min_speed_for_flow_density_kmh
    ):
        return flow / speed, "flow_speed"
    if occ is not None:
        return density_from_occupancy(occ, th.effective_length_m), "occupancy"
    return None, None


def _with_los(
    values: ConditionValues, series: Sequence[Obs], th: ConditionThresholds
) -> ConditionValues:
    los, basis, reason = _los(values, th)
    run_s = _congested_run_s(series, values.road_class, values.free_flow_kmh, th)
    congested: bool | None
    if values.road_class == "freeway":
        if values.speed_kmh is not None:
            congested = run_s >= th.freeway_congested_min_s
        else:
            congested = None if los is None else los in th.freeway_congested_los_fallback
    elif los is None:
        congested = None
    else:
        ratio = values.speed_ratio
        congested = los in th.urban_congested_los or (
            ratio is not None and ratio < th.urban_congested_speed_ratio
        )
    return msgspec.structs.replace(
        values,
        los=los,
        los_basis=basis,
        los_reason=reason,
        congested=congested,
        congested_for_s=run_s,
    )


def _los(
    values: ConditionValues, th: ConditionThresholds
) -> tuple[str | None, str | None, str | None]:
    empty = values.flow_vph == 0 and values.occupancy == 0
    if values.road_class == "freeway":
        if values.density_vpkm is not None:
            pc = vpkm_to_pc_per_mile(values.density_vpkm, th.passenger_car_equivalent)
            return (
                freeway_los(pc, th.freeway_density_bands),
                f"density_{values.density_basis}",
                None,
            )
        if values.speed_ratio is not None:
            return (
                freeway_speed_los(values.speed_ratio, th.freeway_speed_bands),
                "speed_ratio_hcm",
                None,
            )
    elif values.speed_ratio is not None:
        basis = "speed_ratio" if values.speed_basis == "measured" else "speed_ratio_estimated"
        return urban_los(values.speed_ratio, th.urban_bands), basis, None
    if empty:
        return "A", "no_traffic", None
    return None, None, "no speed or density measured"


def _obs_speed(o: Obs, th: ConditionThresholds) -> float | None:
    if o.speed_kmh is not None:
        return o.speed_kmh
    if (
        o.flow_vph_per_lane is not None
        and o.occupancy is not None
        and o.occupancy >= th.min_occupancy_for_speed_estimate
    ):
        return speed_from_flow_occupancy(o.flow_vph_per_lane, o.occupancy, th.effective_length_m)
    return None


def _congested_run_s(
    series: Sequence[Obs], road_class: str, free_flow_kmh: float, th: ConditionThresholds
) -> float:
    """Seconds covered by the newest unbroken run of congested unflagged intervals (flagged
    intervals are skipped; a gap longer than max_gap_factor x interval breaks the run)."""
    newest: Obs | None = None
    run_start: Obs | None = None
    for o in reversed(series):
        if o.flags:
            continue
        if run_start is not None and (
            run_start.time_ns - o.time_ns > th.max_gap_factor * run_start.interval_s * NS
        ):
            break
        speed = _obs_speed(o, th)
        if speed is None:
            break
        if road_class == "freeway":
            hit = speed <= th.freeway_congested_speed_kmh
        else:
            ratio = speed / free_flow_kmh
            hit = ratio < th.urban_congested_speed_ratio or (
                urban_los(ratio, th.urban_bands) in th.urban_congested_los
            )
        if not hit:
            break
        newest = newest or o
        run_start = o
    if run_start is None or newest is None:
        return 0.0
    return (newest.time_ns - run_start.time_ns) / NS + run_start.interval_s


def _time(o: Obs) -> int:
    return o.time_ns


def _slope_per_min(points: Sequence[tuple[int, float]]) -> float:
    t0 = points[0][0]
    xs = [(t - t0) / (60 * NS) for t, _ in points]
    ys = [y for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def _with_trend(
    values: ConditionValues, good: Sequence[Obs], free_flow_kmh: float, th: ConditionThresholds
) -> ConditionValues:
    if not good:
        return values
    start = good[-1].time_ns - th.trend_window_s * NS
    recent = [o for o in good if o.time_ns > start]
    speeds = [(o.time_ns, s) for o in recent if (s := _obs_speed(o, th)) is not None]
    occs = [(o.time_ns, o.occupancy) for o in recent if o.occupancy is not None]
    speed_slope = _slope_per_min(speeds) if len(speeds) >= th.trend_min_points else None
    occ_slope = _slope_per_min(occs) if len(occs) >= th.trend_min_points else None
    trend: str | None = None
    basis: str | None = None
    if speed_slope is not None and free_flow_kmh > 0:
        per_5min = speed_slope * 5 / free_flow_kmh
        basis, band = "speed", th.trend_dead_band_speed_ratio_per_5min
        trend = "stable" if abs(per_5min) < band else ("building_up" if per_5min < 0 else "easing")
    elif occ_slope is not None:
        per_5min = occ_slope * 5
        basis, band = "occupancy", th.trend_dead_band_occupancy_per_5min
        trend = "stable" if abs(per_5min) < band else ("building_up" if per_5min > 0 else "easing")
    return msgspec.structs.replace(
        values,
        trend=trend,
        trend_basis=basis,
        speed_slope_kmh_per_min=speed_slope,
        occupancy_slope_per_min=occ_slope,
    )
