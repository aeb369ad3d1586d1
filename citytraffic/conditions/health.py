"""Detector health over a window of readings (domain.md section 2).

Flags (each with a human-readable reason):

- `dead`            no data for `dead_after_s` of daytime (default an hour, 05:00-22:00 local)
- `silent`          no data for `silent_after_s` (any time of day) but not dead yet
- `stuck`           identical non-zero readings for `stuck_min_s`, or occupancy entropy too low
                    (PeMS "constant"; entropy of speed for speed-only stations)
- `zero_occupancy`  too many daytime samples with occupancy 0 (PeMS "card off")
- `intermittent`    too many samples with count > 0 and occupancy 0, or occupancy > 0 and count 0
- `high_occupancy`  too many daytime samples with occupancy above 0.35 (PeMS "high val")
- `range`           readings failing the range checks of citytraffic/domain/quality.py
- `clock_skew`      readings stamped in the future, or source time far from receive time

Status: `bad` when a flag of `HealthThresholds.bad_flags` is set (or the range-flagged share
reaches `range_bad_share`), `suspect` for any other flag, else `ok`. The share tests only run
with at least `min_daytime_samples` daytime samples in the window.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from citytraffic.conditions.config import DEFAULT_HEALTH, HealthThresholds, PemsLimits
from citytraffic.conditions.samples import DetectorSample, reading_flags
from citytraffic.domain.network import Detector, Network

NS = 1_000_000_000
CONSISTENCY_FLAGS = frozenset({"count_without_occupancy", "occupancy_without_count"})


class DetectorHealth(msgspec.Struct, frozen=True, kw_only=True):
    detector: str
    site: str
    link: str
    time_ns: int  # when assessed (`now`)
    window_start_ns: int
    status: str  # ok | suspect | bad
    flags: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    samples: int = 0
    daytime_samples: int = 0
    last_seen_ns: int | None = None
    silent_s: float = 0.0
    zero_occupancy_share: float | None = None
    occupancy_without_count_share: float | None = None
    count_without_occupancy_share: float | None = None
    high_occupancy_share: float | None = None
    entropy_bits: float | None = None
    entropy_basis: str | None = None  # occupancy | speed
    longest_identical_run_s: float = 0.0
    range_flagged_share: float | None = None
    range_flags: tuple[str, ...] = ()
    max_future_s: float | None = None
    receive_skew_s: float | None = None  # median(receive - source)


def assess_health(
    network: Network,
    samples: Iterable[DetectorSample],
    now_ns: int,
    thresholds: HealthThresholds = DEFAULT_HEALTH,
    window_s: int = 86_400,
) -> list[DetectorHealth]:
    """Health of every detector of `network` from the samples of the last `window_s`."""
    by_detector: dict[str, list[DetectorSample]] = {d.id: [] for d in network.detectors}
    for s in samples:
        if s.detector in by_detector:
            by_detector[s.detector].append(s)
    classes = {ln.id: str(ln.road_class) for ln in network.links}
    return [
        assess_detector(
            d, classes.get(d.link, "urban"), by_detector[d.id], now_ns, thresholds, window_s
        )
        for d in network.detectors
    ]


def assess_detector(
    detector: Detector,
    road_class: str,
    samples: Sequence[DetectorSample],
    now_ns: int,
    thresholds: HealthThresholds = DEFAULT_HEALTH,
    window_s: int = 86_400,
) -> DetectorHealth:
    th = thresholds
    start_ns = now_ns - window_s * NS
    tz = ZoneInfo(th.timezone)
    rows = sorted((s for s in samples if s.time_ns > start_ns), key=lambda s: s.time_ns)
    flags: list[str] = []
    reasons: list[str] = []
    record = DetectorHealth(
        detector=detector.id,
        site=detector.site,
        link=detector.link,
        time_ns=now_ns,
        window_start_ns=start_ns,
        status="ok",
        samples=len(rows),
    )

    def flag(code: str, reason: str) -> None:
        if code not in flags:
            flags.append(code)
        reasons.append(reason)

    # dead / silent
    past = [s for s in rows if s.time_ns <= now_ns + th.future_tolerance_s * NS]
    last_seen = past[-1].time_ns if past else None
    silent_from = last_seen if last_seen is not None else start_ns
    silent_s = max(0.0, (now_ns - silent_from) / NS)
    spans = _daytime_windows(
        min(start_ns, silent_from), now_ns + th.future_tolerance_s * NS, tz, th
    )
    day_silent_s = _overlap_s(silent_from, now_ns, spans)
    since = "in the window" if last_seen is None else "since the last reading"
    if day_silent_s >= th.dead_after_s:
        flag(
            "dead",
            f"no data for {silent_s / 60:.0f} min {since} ({day_silent_s / 60:.0f} min "
            f"of it in daytime {th.daytime_start_hour:02d}-{th.daytime_end_hour:02d} "
            f"{th.timezone})",
        )
    elif silent_s >= th.silent_after_s:
        flag("silent", f"no data for {silent_s / 60:.0f} min {since}")

    # stuck: identical non-zero readings
    run_s, run_n = _longest_identical_run(rows)
    if run_s >= th.stuck_min_s and run_n >= th.stuck_min_intervals:
        flag("stuck", f"identical readings for {run_s / 60:.0f} min")

    # PeMS-style shares over daytime samples
    limits = th.freeway if road_class == "freeway" else th.urban
    day = [s for s in past if any(lo <= s.time_ns < hi for lo, hi in spans)]
    shares = _shares(day, limits) if len(day) >= th.min_daytime_samples else {}
    entropy, basis = _entropy(day, th) if len(day) >= th.min_daytime_samples else (None, None)
    _share_flags(shares, limits, len(day), flag)
    min_bits = limits.min_entropy_bits
    if entropy is not None and min_bits is not None and entropy < min_bits:
        flag(
            "stuck",
            f"{basis} entropy {entropy:.2f} bits < {min_bits} over {len(day)} daytime samples",
        )

    # range
    range_counts: Counter[str] = Counter()
    range_hits = 0
    for s in rows:
        found = [f for f in reading_flags(s, th.range_limits) if f not in CONSISTENCY_FLAGS]
        if found:
            range_counts.update(found)
            range_hits += 1
    range_share = range_hits / len(rows) if rows else None
    if range_share is not None and range_share > th.range_suspect_share and range_hits:
        flag(
            "range",
            f"{range_hits} of {len(rows)} readings failed range checks "
            f"({', '.join(sorted(range_counts))})",
        )

    # clock skew
    max_future_s = max(((s.time_ns - now_ns) / NS for s in rows), default=None)
    if max_future_s is not None and max_future_s > th.future_tolerance_s:
        flag("clock_skew", f"readings stamped up to {max_future_s:.0f} s in the future")
    lags = [(s.receive_time_ns - s.time_ns) / NS for s in rows if s.receive_time_ns is not None]
    skew = statistics.median(lags) if lags else None
    if skew is not None and abs(skew) > th.receive_skew_tolerance_s:
        side = "ahead of" if skew < 0 else "behind"
        flag(
            "clock_skew",
            f"source clock about {abs(skew):.0f} s {side} the receive time "
            f"(median of {len(lags)} readings)",
        )

    bad = any(f in th.bad_flags for f in flags) or (
        range_share is not None and range_hits > 0 and range_share >= th.range_bad_share
    )
    return msgspec.structs.replace(
        record,
        status="bad" if bad else ("suspect" if flags else "ok"),
        flags=tuple(flags),
        reasons=tuple(reasons),
        daytime_samples=len(day),
        last_seen_ns=last_seen,
        silent_s=silent_s,
        zero_occupancy_share=shares.get("zero"),
        occupancy_without_count_share=shares.get("occ_no_count"),
        count_without_occupancy_share=shares.get("count_no_occ"),
        high_occupancy_share=shares.get("high"),
        entropy_bits=entropy,
        entropy_basis=basis,
        longest_identical_run_s=run_s,
        range_flagged_share=range_share,
        range_flags=tuple(sorted(range_counts)),
        max_future_s=max_future_s,
        receive_skew_s=skew,
    )


def _share_flags(
    shares: dict[str, float], limits: PemsLimits, n: int, flag: Callable[[str, str], None]
) -> None:
    def over(key: str, limit: float | None) -> bool:
        return limit is not None and key in shares and shares[key] > limit

    if over("zero", limits.zero_occupancy_share):
        flag("zero_occupancy", f"{shares['zero']:.0%} of {n} daytime samples have occupancy 0")
    if over("occ_no_count", limits.occupancy_without_count_share):
        flag(
            "intermittent",
            f"{shares['occ_no_count']:.1%} of {n} daytime samples have occupancy > 0 with count 0",
        )
    if over("count_no_occ", limits.count_without_occupancy_share):
        flag(
            "intermittent",
            f"{shares['count_no_occ']:.1%} of {n} daytime samples have count > 0 with occupancy 0",
        )
    if over("high", limits.high_occupancy_share):
        flag(
            "high_occupancy",
            f"{shares['high']:.1%} of {n} daytime samples have occupancy > "
            f"{limits.high_occupancy:.2f}",
        )


def _shares(day: Sequence[DetectorSample], limits: PemsLimits) -> dict[str, float]:
    occ = [s for s in day if s.occupancy is not None]
    both = [s for s in occ if s.count is not None]
    out: dict[str, float] = {}
    if occ:
        out["zero"] = sum(s.occupancy == 0 for s in occ) / len(occ)
        out["high"] = sum((s.occupancy or 0) > limits.high_occupancy for s in occ) / len(occ)
    if both:
        out["occ_no_count"] = sum((s.occupancy or 0) > 0 and s.count == 0 for s in both) / len(both)
        out["count_no_occ"] = sum((s.count or 0) > 0 and s.occupancy == 0 for s in both) / len(both)
    return out


def _entropy(
    day: Sequence[DetectorSample], th: HealthThresholds
) -> tuple[float | None, str | None]:
    occ = [s.occupancy for s in day if s.occupancy is not None]
    if occ:
        values, basis = [round(v / th.entropy_resolution) for v in occ], "occupancy"
    else:
        speeds = [s.speed_kmh for s in day if s.speed_kmh is not None]
        if not speeds:
            return None, None
        values = [round(v / th.entropy_speed_resolution_kmh) for v in speeds]
        basis = "speed"
    n = len(values)
    return -sum(c / n * math.log2(c / n) for c in Counter(values).values()), basis


def _longest_identical_run(rows: Sequence[DetectorSample]) -> tuple[float, int]:
    """(seconds, intervals) of the longest run of identical non-empty readings."""
    best: tuple[float, int] = (0.0, 0)
    run_start: DetectorSample | None = None
    run_n = 0
    prev_key: tuple[object, ...] | None = None
    for s in rows:
        key = (s.count, s.occupancy, s.speed_kmh)
        empty = not s.count and not s.occupancy and not s.speed_kmh
        if empty or key != prev_key:
            run_start, run_n = (None, 0) if empty else (s, 1)
        elif run_start is not None:
            run_n += 1
            best = max(best, ((s.time_ns - run_start.time_ns) / NS + run_start.interval_s, run_n))
        prev_key = None if empty else key
    return best


def _daytime_windows(
    start_ns: int, end_ns: int, tz: ZoneInfo, th: HealthThresholds
) -> list[tuple[int, int]]:
    """The local daytime spans [lo, hi) (ns) of every local day touching [start, end]."""
    start = datetime.fromtimestamp(start_ns / NS, UTC)
    end = datetime.fromtimestamp(end_ns / NS, UTC)
    day = start.astimezone(tz).date() - timedelta(days=1)
    spans = []
    while day <= end.astimezone(tz).date():
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        lo = midnight + timedelta(hours=th.daytime_start_hour)  # wall-clock hours
        hi = midnight + timedelta(hours=th.daytime_end_hour)
        spans.append((int(lo.timestamp()) * NS, int(hi.timestamp()) * NS))
        day += timedelta(days=1)
    return spans


def _overlap_s(start_ns: int, end_ns: int, spans: Sequence[tuple[int, int]]) -> float:
    return sum(max(0, min(hi, end_ns) - max(lo, start_ns)) for lo, hi in spans) / NS


def health_tags(h: DetectorHealth) -> dict[str, str]:
    """Tags of the `detector_health` point (same identity scheme as `detector`)."""
    return {"site": h.site, "detector": h.detector}


def health_fields(h: DetectorHealth) -> dict[str, float | int | str | bool]:
    """Fields of the `detector_health` point at `h.time_ns` (absent values are left out)."""
    fields: dict[str, float | int | str | bool] = {
        "status": h.status,
        "flags": ";".join(h.flags) if h.flags else "ok",
        "reasons": " | ".join(h.reasons),
        "samples": h.samples,
        "daytime_samples": h.daytime_samples,
        "silent_s": h.silent_s,
        "longest_identical_run_s": h.longest_identical_run_s,
        "window_s": (h.time_ns - h.window_start_ns) // NS,
    }
    optional = {
        "last_seen_ns": h.last_seen_ns,
        "zero_occupancy_share": h.zero_occupancy_share,
        "occupancy_without_count_share": h.occupancy_without_count_share,
        "count_without_occupancy_share": h.count_without_occupancy_share,
        "high_occupancy_share": h.high_occupancy_share,
        "entropy_bits": h.entropy_bits,
        "range_flagged_share": h.range_flagged_share,
        "max_future_s": h.max_future_s,
        "receive_skew_s": h.receive_skew_s,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    return fields
