"""Everything the API derives from one store read, in the snapshot refresh (a worker thread).

`Deriver(prev, base, rows, now_ns)` takes the base snapshot (latest reading per detector, ingest
stats; `rows` are the detector rows it was built from) and adds: the latest signal states, the
live engines' view (link and detector conditions, health, incidents), the per-link JSON of
`/api/v1/conditions` (pre-encoded per site), the public feeds (re-rendered only when their input
changed: same data, same bytes, same ETag), and the stream events of this refresh. Requests and
the stream only read the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import defaultdict
from typing import Any

import msgspec

from api.events import (
    StreamEvent,
    conditions_event,
    diff_links,
    health_event,
    incident_event,
)
from api.feeds import FeedContext, FeedInput, SignalRow, build_feed_set
from api.live import LiveChanges, LiveEngines, LiveView
from api.snapshot import NS, Snapshot
from api.timefmt import parse_rfc3339_ns, rfc3339
from citytraffic.conditions import LinkConditions
from citytraffic.domain.network import Network
from citytraffic.storage.points import Row
from citytraffic.storage.port import Store

__all__ = ["SIGNAL_MEASUREMENT", "Deriver", "LinkConditionRecord", "link_record"]

log = logging.getLogger(__name__)

SIGNAL_MEASUREMENT = "signal"


class LinkConditionRecord(msgspec.Struct, frozen=True):
    """One link in /api/v1/conditions; field order is the JSON order (see LinkConditionOut)."""

    link: str
    name: str
    road_class: str
    lanes: int
    lanes_reporting: int
    free_flow_kmh: float
    updated: str | None
    data_age_s: float | None
    stale: bool
    los: str | None
    los_basis: str | None
    los_reason: str | None
    congested: bool | None
    congested_for_s: float | None
    trend: str | None
    speed_kmh: float | None
    speed_basis: str | None
    speed_ratio: float | None
    flow_vph: float | None
    flow_vph_per_lane: float | None
    occupancy: float | None
    density_vpkm: float | None
    quality: str
    samples: int
    flagged_samples: int
    detectors: tuple[str, ...]
    excluded_detectors: tuple[str, ...]


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def link_record(c: LinkConditions) -> LinkConditionRecord:
    return LinkConditionRecord(
        link=c.link,
        name=c.name,
        road_class=c.road_class,
        lanes=c.lanes,
        lanes_reporting=c.lanes_reporting,
        free_flow_kmh=c.free_flow_kmh,
        updated=rfc3339(c.time_ns) if c.time_ns is not None else None,
        data_age_s=_r(c.data_age_s, 1),
        stale=c.stale,
        los=c.los,
        los_basis=c.los_basis,
        los_reason=c.los_reason,
        congested=c.congested,
        congested_for_s=_r(c.congested_for_s, 0),
        trend=c.trend,
        speed_kmh=_r(c.speed_kmh, 2),
        speed_basis=c.speed_basis,
        speed_ratio=_r(c.speed_ratio, 4),
        flow_vph=_r(c.flow_vph, 1),
        flow_vph_per_lane=_r(c.flow_vph_per_lane, 1),
        occupancy=_r(c.occupancy, 4),
        density_vpkm=_r(c.density_vpkm, 2),
        quality=c.quality,
        samples=c.samples,
        flagged_samples=c.flagged_samples,
        detectors=c.detectors,
        excluded_detectors=c.excluded_detectors,
    )


def signal_from_row(row: Row) -> SignalRow | None:
    site = row.tags.get("site")
    if not site:
        return None
    fields: dict[str, Any] = row.fields
    return SignalRow(
        site=site,
        time_ns=row.time_ns,
        plan=str(fields.get("plan") or ""),
        phase=str(fields.get("phase") or ""),
        state=str(fields.get("state") or ""),
    )


class Deriver:
    def __init__(
        self,
        store: Store,
        network: Network,
        engines: LiveEngines | None,
        feed_context: FeedContext,
        live_window_s: int,
        stale_after_s: float = 600.0,
    ) -> None:
        self.store = store
        self.network = network
        self.engines = engines
        self.feed_context = feed_context
        self.live_window_s = live_window_s
        self.stale_after_s = stale_after_s
        self._encoder = msgspec.json.Encoder()
        links_of_site: dict[str, set[str]] = defaultdict(set)
        for d in network.detectors:
            links_of_site[d.site].add(d.link)
        for ln in network.links:
            for end in (ln.from_site, ln.to_site):
                if end is not None:
                    links_of_site[end].add(ln.id)
        self.links_of_site = dict(links_of_site)

    def __call__(
        self, prev: Snapshot | None, base: Snapshot, rows: list[Row], now_ns: int
    ) -> Snapshot:
        since_ns = now_ns - self.live_window_s * NS
        signal_rows = self.store.latest(SIGNAL_MEASUREMENT, since_ns)
        signals = {s.site: s for r in signal_rows if (s := signal_from_row(r)) is not None}
        view: LiveView | None = None
        changes = LiveChanges()
        if self.engines is not None:
            view, changes = self.engines.update(self.store, now_ns, latest=rows)
        records = (
            [link_record(c) for c in view.conditions.links]
            if view is not None and view.conditions is not None
            else []
        )
        by_site: dict[str, list[LinkConditionRecord]] = defaultdict(list)
        for site, link_ids in self.links_of_site.items():
            by_site[site] = [r for r in records if r.link in link_ids]
        feed_key = self._feed_key(base, view, signals)
        feeds = prev.feeds if prev is not None and prev.feed_key == feed_key else None
        if feeds is None:
            feeds = build_feed_set(self._feed_input(base, view, signals, now_ns), self.feed_context)
        return dataclasses.replace(
            base,
            live=view,
            signals=signals,
            links_chunk=self._encoder.encode(records)[1:-1],
            links_chunks_by_site={s: self._encoder.encode(v)[1:-1] for s, v in by_site.items()},
            feeds=feeds,
            feed_key=feed_key,
            events=tuple(self._events(prev, view, changes, now_ns)),
        )

    def _feed_key(
        self, base: Snapshot, view: LiveView | None, signals: dict[str, SignalRow]
    ) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        h.update(str(view.version if view is not None else -1).encode())
        for d in base.detectors:
            h.update(f"{d.detector}|{d.ts}|{d.quality};".encode())
        for s in sorted(signals.values(), key=lambda s: s.site):
            h.update(f"{s.site}|{s.time_ns}|{s.state}|{s.plan};".encode())
        return h.digest()

    def _feed_input(
        self,
        base: Snapshot,
        view: LiveView | None,
        signals: dict[str, SignalRow],
        now_ns: int,
    ) -> FeedInput:
        times = [t for d in base.detectors if (t := parse_rfc3339_ns(d.ts)) is not None]
        times += [s.time_ns for s in signals.values()]
        return FeedInput(
            network=self.network,
            published_ns=max(times, default=base.generated_ns),
            now_ns=now_ns,
            links=view.links if view is not None else {},
            detectors=view.detectors if view is not None else {},
            health=view.health if view is not None else {},
            readings=base.detectors,
            signals=signals,
            stale_after_s=self.stale_after_s,
        )

    def _events(
        self, prev: Snapshot | None, view: LiveView | None, changes: LiveChanges, now_ns: int
    ) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if view is None:
            return events
        if changes.conditions_recomputed:
            before = prev.live.links if prev is not None and prev.live is not None else {}
            changed = diff_links(before, view.links)
            if changed:
                events.append(conditions_event(changed, now_ns))
        events += [incident_event(i) for i in changes.incidents]
        events += [health_event(h) for h in changes.health]
        return events
