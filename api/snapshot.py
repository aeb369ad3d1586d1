"""The live snapshot: the latest reading of every detector, read from the store every few seconds.

Requests never query the store for live conditions: a background task (started by the app's
lifespan) calls `SnapshotService.refresh()` every `settings.api.snapshot_refresh_s` in a worker
thread, builds an immutable `Snapshot` and swaps it in. The snapshot keeps each detector's JSON
pre-encoded and grouped by site, so `/api/v1/conditions` only splices bytes. When the store cannot
be read the last snapshot stays in place; responses then say `stale: true` and how old it is.

The snapshot also carries the latest `ingest_stats` points (the ingest processes' own counters)
for `/metrics`, so a Prometheus scrape costs no store query either. A `Derive` step (api/derive.py)
adds, in the same refresh, the live engines' view (link conditions, health, incidents), the
rendered public feeds and the stream events; `on_refresh` then publishes those events on the
event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import msgspec

from api.timefmt import NS, rfc3339
from citytraffic.domain.network import Detector, Network
from citytraffic.storage.points import Row
from citytraffic.storage.port import Store

if TYPE_CHECKING:
    from api.events import StreamEvent
    from api.feeds import FeedSet, SignalRow
    from api.live import LiveView

__all__ = [
    "DETECTOR_MEASUREMENT",
    "INGEST_STATS_MEASUREMENT",
    "NS",
    "DetectorCondition",
    "IngestStats",
    "Snapshot",
    "SnapshotService",
    "build_snapshot",
    "rfc3339",
]

log = logging.getLogger(__name__)

DETECTOR_MEASUREMENT = "detector"
INGEST_STATS_MEASUREMENT = "ingest_stats"


class DetectorCondition(msgspec.Struct, frozen=True):
    """One detector's latest reading; field order is the JSON order (see ConditionsOut)."""

    site: str
    detector: str
    link: str | None
    lane: int | None
    ts: str
    age_s: float
    count: int | None
    occupancy: float | None
    speed_kmh: float | None
    flow_vph: float | None
    interval_s: int | None
    quality: str


@dataclass(frozen=True, slots=True)
class IngestStats:
    instance: str
    time_ns: int
    values: dict[str, float]  # numeric fields only; booleans as 0/1


@dataclass(frozen=True, slots=True)
class Snapshot:
    generated_ns: int
    detectors: tuple[DetectorCondition, ...]
    chunks_by_site: dict[str, bytes]  # site -> `{...},{...}` (detector objects, no brackets)
    all_chunk: bytes = b""  # every site's chunk, joined
    ingest: tuple[IngestStats, ...] = ()
    # derived in the same refresh (api/derive.py); absent when no Deriver is configured
    live: LiveView | None = None
    signals: dict[str, SignalRow] = field(default_factory=dict)
    links_chunk: bytes = b""  # every link's conditions record, joined
    links_chunks_by_site: dict[str, bytes] = field(default_factory=dict)
    feeds: FeedSet | None = None
    feed_key: bytes = b""
    events: tuple[StreamEvent, ...] = ()
    generated_at: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "generated_at", rfc3339(self.generated_ns))

    def conditions_json(
        self, now_ns: int, stale: bool, live_window_s: int, site: str | None
    ) -> bytes:
        """The /api/v1/conditions body for all sites or one site (pre-encoded parts spliced)."""
        items = self.all_chunk if site is None else self.chunks_by_site.get(site, b"")
        links = self.links_chunk if site is None else self.links_chunks_by_site.get(site, b"")
        age_s = max(0.0, (now_ns - self.generated_ns) / NS)
        computed = self.live.computed_ns if self.live is not None else 0
        conditions_at = f'"{rfc3339(computed)}"' if computed else "null"
        head = (
            f'{{"generated_at":"{self.generated_at}","snapshot_age_s":{age_s:.3f},'
            f'"stale":{"true" if stale else "false"},"live_window_s":{live_window_s},'
            '"detectors":['
        )
        middle = f'],"conditions_at":{conditions_at},"links":['
        return b"".join((head.encode(), items, middle.encode(), links, b"]}"))


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _int(value: object) -> int | None:
    number = _num(value)
    return None if number is None or number != number else int(number)


def condition_from_row(
    row: Row, detectors: dict[str, Detector], generated_ns: int
) -> DetectorCondition | None:
    site, detector_id = row.tags.get("site"), row.tags.get("detector")
    if not site or not detector_id:
        return None
    known = detectors.get(detector_id)
    count, interval_s = _int(row.fields.get("count")), _int(row.fields.get("interval_s"))
    flow_vph = None
    if count is not None and interval_s:
        flow_vph = round(count * 3600.0 / interval_s, 1)
    quality = row.fields.get("quality")
    return DetectorCondition(
        site=site,
        detector=detector_id,
        link=known.link if known else None,
        lane=known.lane if known else None,
        ts=rfc3339(row.time_ns),
        age_s=round((generated_ns - row.time_ns) / NS, 3),
        count=count,
        occupancy=_num(row.fields.get("occupancy")),
        speed_kmh=_num(row.fields.get("speed_kmh")),
        flow_vph=flow_vph,
        interval_s=interval_s,
        quality=quality if isinstance(quality, str) else "unknown",
    )


def ingest_stats_from_row(row: Row) -> IngestStats:
    values: dict[str, float] = {}
    for key, value in row.fields.items():
        if isinstance(value, bool):
            values[key] = 1.0 if value else 0.0
        elif isinstance(value, int | float) and value == value:
            values[key] = float(value)
    return IngestStats(instance=row.tags.get("instance", ""), time_ns=row.time_ns, values=values)


_encoder = msgspec.json.Encoder()


def build_snapshot(
    detector_rows: list[Row], ingest_rows: list[Row], network: Network, generated_ns: int
) -> Snapshot:
    by_id = {d.id: d for d in network.detectors}
    conditions = sorted(
        (c for r in detector_rows if (c := condition_from_row(r, by_id, generated_ns))),
        key=lambda c: (c.site, c.detector),
    )
    per_site: dict[str, list[DetectorCondition]] = {}
    for c in conditions:
        per_site.setdefault(c.site, []).append(c)
    chunks = {site: _encoder.encode(items)[1:-1] for site, items in per_site.items()}
    return Snapshot(
        generated_ns=generated_ns,
        detectors=tuple(conditions),
        chunks_by_site=chunks,
        all_chunk=b",".join(chunks.values()),
        ingest=tuple(sorted(map(ingest_stats_from_row, ingest_rows), key=lambda s: s.instance)),
    )


class Derive(Protocol):
    """Adds derived views to a freshly read snapshot (api/derive.py: `Deriver`)."""

    def __call__(
        self, prev: Snapshot | None, base: Snapshot, rows: list[Row], now_ns: int
    ) -> Snapshot: ...


class SnapshotService:
    """Holds the current snapshot and refreshes it from the store."""

    def __init__(
        self,
        store: Store,
        network: Network,
        live_window_s: int,
        refresh_s: float,
        clock_ns: Callable[[], int] = time.time_ns,
        derive: Derive | None = None,
        on_refresh: Callable[[Snapshot], Any] | None = None,
    ) -> None:
        self.derive = derive
        self.on_refresh = on_refresh  # called on the event loop with each new snapshot
        self.store = store
        self.network = network
        self.live_window_s = live_window_s
        self.refresh_s = refresh_s
        self.clock_ns = clock_ns
        self.current: Snapshot | None = None
        self.last_ok: bool = False
        self.last_error: str | None = None
        self.refreshes = 0
        self.failures = 0

    def refresh(self) -> Snapshot | None:
        """Read the store once (blocking). On failure keep the last snapshot and remember why."""
        now_ns = self.clock_ns()
        since_ns = now_ns - self.live_window_s * NS
        try:
            detector_rows = self.store.latest(DETECTOR_MEASUREMENT, since_ns)
            ingest_rows = self.store.latest(INGEST_STATS_MEASUREMENT, since_ns)
            snapshot = build_snapshot(detector_rows, ingest_rows, self.network, now_ns)
            if self.derive is not None:
                snapshot = self.derive(self.current, snapshot, detector_rows, now_ns)
        except Exception as exc:  # the loop must survive anything the store raises
            self.failures += 1
            if self.last_ok or self.refreshes + self.failures == 1:
                log.warning("snapshot refresh failed, serving the last one: %s", exc)
            self.last_ok, self.last_error = False, f"{type(exc).__name__}: {exc}"[:500]
            return self.current
        if not self.last_ok and self.refreshes:
            log.info("snapshot refresh works again")
        self.current, self.last_ok, self.last_error = snapshot, True, None
        self.refreshes += 1
        return snapshot

    def age_s(self, now_ns: int | None = None) -> float | None:
        if self.current is None:
            return None
        now_ns = self.clock_ns() if now_ns is None else now_ns
        return max(0.0, (now_ns - self.current.generated_ns) / NS)

    def is_stale(self, now_ns: int | None = None) -> bool:
        """The last refresh failed, or none succeeded for three refresh periods."""
        age = self.age_s(now_ns)
        return not self.last_ok or age is None or age > 3 * self.refresh_s + 1.0

    async def run(self) -> None:
        """Sleep, refresh, repeat until cancelled; each store read runs in a worker thread.

        The app's lifespan calls `refresh()` once before serving, then starts this loop.
        """
        while True:
            await anyio.sleep(self.refresh_s)
            before = self.current
            snapshot = await anyio.to_thread.run_sync(self.refresh)
            if snapshot is not None and snapshot is not before and self.on_refresh is not None:
                try:
                    self.on_refresh(snapshot)
                except Exception:  # a subscriber problem must not stop the refreshes
                    log.exception("publishing the snapshot's events failed")
