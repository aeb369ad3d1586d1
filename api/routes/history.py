"""GET /api/v1/history: one detector's readings aggregated in time buckets over a bounded range.

Buckets start at multiples of `window` since the epoch (InfluxDB's GROUP BY time); a reading
falls in the bucket that holds its source timestamp (the end of its interval); empty buckets are
omitted. Every bad parameter answers 400 with `{"detail": "..."}` naming the parameter (all of
them at once); an unknown detector 404; a store that cannot answer 503. Only a missing
`detector` is FastAPI's own 422.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from api.deps import ClockDep, NetworkDep, SettingsDep, StoreDep
from api.models import ErrorOut, HistoryBucketOut, HistoryOut
from api.snapshot import DETECTOR_MEASUREMENT, NS, rfc3339
from citytraffic.storage.port import Aggregate, Bucket, StoreError

router = APIRouter(prefix="/api/v1", tags=["history"])

MIN_WINDOW_S = 1
MAX_WINDOW_S = 86_400
DEFAULT_RANGE_S = 3600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_WINDOW = re.compile(r"^\s*(\d{1,9})\s*(s|sec|m|min|h|d)?\s*$", re.IGNORECASE)
_UNIT_S = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
AGGREGATES: dict[str, Aggregate] = {
    "count": "sum",
    "occupancy": "mean",
    "speed_kmh": "mean",
    "interval_s": "sum",
}


def parse_window_s(text: str) -> int | str:
    """Seconds, or the reason `text` is not an acceptable window (`60`, `30s`, `5min`, `1h`)."""
    match = _WINDOW.match(text)
    if match is None:
        return (
            f"window: {text[:40]!r} is not a duration "
            "(use seconds such as 60, or 30s, 5min, 1h, 1d)"
        )
    window_s = int(match.group(1)) * _UNIT_S[(match.group(2) or "").lower()]
    if not MIN_WINDOW_S <= window_s <= MAX_WINDOW_S:
        return f"window: {window_s} s is outside {MIN_WINDOW_S}..{MAX_WINDOW_S} s"
    return window_s


def parse_time_ns(name: str, text: str) -> int | str:
    """Nanoseconds since the epoch, or why `text` is not an RFC 3339 time with a timezone."""
    hint = " (a '+' in a URL must be sent as %2B)" if " " in text.strip() else ""
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        return f"{name}: {text[:40]!r} is not an ISO 8601 / RFC 3339 time{hint}"
    if dt.tzinfo is None or dt.utcoffset() is None:
        return f"{name}: {text[:40]!r} has no timezone (add Z or an offset such as +01:00)"
    if not _EPOCH <= dt < _LATEST:
        return f"{name}: {text[:40]!r} is outside 1970..2200"
    return (dt - _EPOCH) // timedelta(microseconds=1) * 1000


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def bucket_out(bucket: Bucket) -> HistoryBucketOut:
    v = bucket.values
    count, covered = v.get("sum_count"), v.get("sum_interval_s")
    flow = count * 3600.0 / covered if count is not None and covered else None
    return HistoryBucketOut(
        start=rfc3339(bucket.start_ns),
        count=None if count is None else round(count),
        occupancy=_round(v.get("mean_occupancy"), 4),
        speed_kmh=_round(v.get("mean_speed_kmh"), 2),
        flow_vph=_round(flow, 1),
        covered_s=None if covered is None else round(covered),
    )


@router.get(
    "/history",
    response_model=HistoryOut,
    summary="One detector's readings aggregated per time window",
    responses={
        400: {"model": ErrorOut, "description": "a bad or out-of-bounds parameter"},
        404: {"model": ErrorOut, "description": "unknown detector"},
        503: {"model": ErrorOut, "description": "the store cannot answer"},
    },
)
def history(
    store: StoreDep,
    network: NetworkDep,
    settings: SettingsDep,
    clock_ns: ClockDep,
    detector: Annotated[str, Query(max_length=64, description="detector id")],
    start: Annotated[
        str | None, Query(max_length=64, description="RFC 3339 with timezone; default end - 1 h")
    ] = None,
    end: Annotated[
        str | None, Query(max_length=64, description="RFC 3339 with timezone; default now")
    ] = None,
    window: Annotated[
        str, Query(max_length=32, description="bucket width: seconds (60) or 30s, 5min, 1h, 1d")
    ] = "300",
) -> HistoryOut:
    limits = settings.api
    problems: list[str] = []
    end_ns = clock_ns() if end is None else parse_time_ns("end", end)
    start_ns: int | str
    if start is not None:
        start_ns = parse_time_ns("start", start)
    else:
        start_ns = end_ns - DEFAULT_RANGE_S * NS if isinstance(end_ns, int) else 0
    window_s = parse_window_s(window)
    problems += [p for p in (start_ns, end_ns, window_s) if isinstance(p, str)]
    if problems:
        raise HTTPException(400, "; ".join(problems))
    assert isinstance(start_ns, int) and isinstance(end_ns, int) and isinstance(window_s, int)
    if end_ns <= start_ns:
        problems.append("end must be after start")
    elif end_ns - start_ns > limits.max_history_s * NS:
        problems.append(
            f"range of {(end_ns - start_ns) / NS:.0f} s exceeds {limits.max_history_s} s"
        )
    else:
        window_ns = window_s * NS
        n_buckets = (end_ns - 1) // window_ns - start_ns // window_ns + 1
        if n_buckets > limits.max_history_buckets:
            problems.append(
                f"{n_buckets} buckets of {window_s} s exceed {limits.max_history_buckets} "
                "(use a wider window or a shorter range)"
            )
    if problems:
        raise HTTPException(400, "; ".join(problems))
    try:
        det = network.detector(detector)
    except KeyError:
        raise HTTPException(404, f"unknown detector {detector!r}") from None
    try:
        buckets = store.aggregate(
            DETECTOR_MEASUREMENT,
            {"site": det.site, "detector": det.id},
            AGGREGATES,
            start_ns,
            end_ns,
            window_s,
        )
    except StoreError as exc:
        raise HTTPException(503, f"the store cannot answer: {exc}"[:500]) from None
    return HistoryOut(
        detector=det.id,
        site=det.site,
        link=det.link,
        lane=det.lane,
        start=rfc3339(start_ns),
        end=rfc3339(end_ns),
        window_s=window_s,
        buckets=[bucket_out(b) for b in buckets],
    )
