"""The live engines, run inside the API's snapshot refresh: conditions, health, incidents.

Until a service of its own runs them, the API hosts the pure engines of `citytraffic.conditions`:
each refresh `LiveEngines.update(store, now_ns, latest)` takes the newest reading of every
detector that the snapshot read anyway (`latest`), and every `catchup_every_s` (and at start)
reads all readings since the newest seen minus `late_tolerance_s` with a `range` query, so a
reading that was not the newest at any refresh (a burst, a late arrival) arrives within
`catchup_every_s`. It keeps `history_s` of readings in memory, and then

- recomputes the conditions of every detector and link when new readings came, or at least every
  `conditions_every_s` (ages and staleness move with the clock);
- reassesses detector health every `health_every_s` over the readings in memory, and stores a
  `detector_health` point per detector (best effort);
- feeds the incident detector one closed interval at a time, in time order: an interval is
  closed once a later one has arrived or `incident_grace_s` after its end. Readings arriving for
  an interval already closed still count for conditions and health, not for incidents.

Everything runs in the refresh worker thread; the result is an immutable `LiveView`.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from citytraffic.conditions import (
    ConditionsSnapshot,
    DetectorConditions,
    DetectorHealth,
    DetectorSample,
    Incident,
    IncidentDetector,
    LinkConditions,
    assess_health,
    compute_conditions,
    health_fields,
    health_tags,
    sample_from_fields,
)
from citytraffic.domain.network import Network
from citytraffic.settings import LiveSettings
from citytraffic.storage.points import Point, Row, make_tags
from citytraffic.storage.port import Store, StoreError

__all__ = ["HEALTH_MEASUREMENT", "LiveChanges", "LiveEngines", "LiveView"]

log = logging.getLogger(__name__)

NS = 1_000_000_000
DETECTOR_MEASUREMENT = "detector"
HEALTH_MEASUREMENT = "detector_health"
FIRST_DATA_REASSESS_S = 5.0  # reassess soon (not every refresh) when detectors first report
PAGE = 50_000
FUTURE_TOLERANCE_S = 120


@dataclass(frozen=True, slots=True)
class LiveView:
    computed_ns: int
    conditions: ConditionsSnapshot | None = None
    links: dict[str, LinkConditions] = field(default_factory=dict)
    detectors: dict[str, DetectorConditions] = field(default_factory=dict)
    health: dict[str, DetectorHealth] = field(default_factory=dict)
    health_ns: int | None = None
    incidents_active: tuple[Incident, ...] = ()
    incidents_ended: tuple[Incident, ...] = ()
    samples_held: int = 0
    version: int = 0  # changes whenever anything above changed


@dataclass(frozen=True, slots=True)
class LiveChanges:
    conditions_recomputed: bool = False
    incidents: tuple[Incident, ...] = ()  # started, changed or ended in this update
    health: tuple[DetectorHealth, ...] = ()  # detectors whose status or flags changed


class LiveEngines:
    def __init__(self, network: Network, settings: LiveSettings) -> None:
        self.network = network
        self.cfg = settings
        self._known = {d.id for d in network.detectors}
        self._samples: dict[str, dict[int, DetectorSample]] = defaultdict(dict)
        self._buckets: dict[int, dict[tuple[str, int], DetectorSample]] = defaultdict(dict)
        self._newest_ns: int | None = None
        self._dirty = False
        self._step_ns: int | None = None
        self._stepped_key: int | None = None
        self._incidents = IncidentDetector(network)
        self._view = LiveView(computed_ns=0)
        self._conditions_ns: int | None = None
        self._catchup_ns: int | None = None
        self._health: dict[str, DetectorHealth] = {}
        self._health_ns: int | None = None
        self._first_seen_since_health = False
        self._version = 0

    @property
    def view(self) -> LiveView:
        return self._view

    def update(
        self, store: Store, now_ns: int, latest: list[Row] | None = None
    ) -> tuple[LiveView, LiveChanges]:
        """Take new readings and run the engines that are due. `latest`: the newest row of each
        detector, read by the caller anyway. Raises StoreError when the store cannot be read
        (the caller keeps the last view)."""
        catchup_due = (
            latest is None
            or self._catchup_ns is None
            or now_ns - self._catchup_ns >= self.cfg.catchup_every_s * NS
        )
        if catchup_due:
            self._ingest(self._read(store, now_ns))
            self._catchup_ns = now_ns
        else:
            self._ingest(iter(latest or ()))
        view, changed = self._view, False
        health_changes: tuple[DetectorHealth, ...] = ()
        since_health_s = None if self._health_ns is None else (now_ns - self._health_ns) / NS
        if (
            since_health_s is None
            or since_health_s >= self.cfg.health_every_s
            # data from a detector the last assessment called silent/dead (or never saw):
            # do not keep showing that alarm for a whole period
            or (self._first_seen_since_health and since_health_s >= FIRST_DATA_REASSESS_S)
        ):
            health_changes = self._assess_health(store, now_ns)
            changed = True
        recompute = (
            self._dirty
            or changed
            or self._conditions_ns is None
            or now_ns - self._conditions_ns >= self.cfg.conditions_every_s * NS
        )
        conditions = view.conditions
        if recompute:
            self._prune(now_ns)
            conditions = compute_conditions(
                self.network, self._all_samples(), now_ns, health=self._health
            )
            self._conditions_ns, self._dirty, changed = now_ns, False, True
        incidents = tuple(self._step_incidents(now_ns))
        if incidents:
            changed = True
        if changed:
            self._version += 1
            self._view = LiveView(
                computed_ns=now_ns,
                conditions=conditions,
                links={c.link: c for c in conditions.links} if conditions else {},
                detectors={c.detector: c for c in conditions.detectors} if conditions else {},
                health=self._health,
                health_ns=self._health_ns,
                incidents_active=tuple(self._incidents.active()),
                incidents_ended=tuple(self._incidents.ended()),
                samples_held=sum(len(v) for v in self._samples.values()),
                version=self._version,
            )
        return self._view, LiveChanges(recompute, incidents, health_changes)

    # -- readings --------------------------------------------------------------------------
    def _read(self, store: Store, now_ns: int) -> Iterator[Row]:
        start_ns = now_ns - self.cfg.history_s * NS
        if self._newest_ns is not None:
            start_ns = max(start_ns, self._newest_ns - self.cfg.late_tolerance_s * NS)
        end_ns = now_ns + FUTURE_TOLERANCE_S * NS
        while True:
            rows = store.range(DETECTOR_MEASUREMENT, start_ns, end_ns, limit=PAGE)
            yield from rows
            if len(rows) < PAGE or rows[-1].time_ns <= start_ns:
                return
            start_ns = rows[-1].time_ns  # rows at that time come again: deduplicated below

    def _ingest(self, rows: Iterator[Row]) -> None:
        intervals: Counter[int] = Counter()
        for row in rows:
            detector = row.tags.get("detector")
            if detector not in self._known:
                continue
            sample = sample_from_fields(detector, row.time_ns, row.fields)
            if sample is None:
                continue
            series = self._samples[detector]
            if series.get(row.time_ns) == sample:
                continue
            if not series or self._silent_in_last_assessment(detector):
                self._first_seen_since_health = True
            series[row.time_ns] = sample
            self._dirty = True
            intervals[sample.interval_s] += 1
            if self._newest_ns is None or row.time_ns > self._newest_ns:
                self._newest_ns = row.time_ns
            if self._step_ns is not None:
                self._buckets[self._key(row.time_ns)][detector, row.time_ns] = sample
        if self._step_ns is None and intervals:
            self._step_ns = intervals.most_common(1)[0][0] * NS
            for det, series in self._samples.items():
                for t, s in series.items():
                    self._buckets[self._key(t)][det, t] = s

    def _silent_in_last_assessment(self, detector: str) -> bool:
        health = self._health.get(detector)
        return health is not None and ("silent" in health.flags or "dead" in health.flags)

    def _all_samples(self) -> Iterator[DetectorSample]:
        for series in self._samples.values():
            yield from series.values()

    def _prune(self, now_ns: int) -> None:
        oldest_ns = now_ns - self.cfg.history_s * NS
        for det in list(self._samples):
            series = self._samples[det]
            for t in [t for t in series if t <= oldest_ns]:
                del series[t]
            if not series:
                del self._samples[det]
        if self._step_ns is not None:
            oldest_key = self._key(oldest_ns)
            for key in [k for k in self._buckets if k < oldest_key]:
                del self._buckets[key]

    # -- health ----------------------------------------------------------------------------
    def _assess_health(self, store: Store, now_ns: int) -> tuple[DetectorHealth, ...]:
        previous = self._health
        assessed = assess_health(
            self.network, self._all_samples(), now_ns, window_s=self.cfg.history_s
        )
        self._health_ns, self._health = now_ns, {h.detector: h for h in assessed}
        self._first_seen_since_health = False
        if self.cfg.write_health and assessed:
            points = [
                Point(HEALTH_MEASUREMENT, make_tags(**health_tags(h)), health_fields(h), now_ns)
                for h in assessed
            ]
            try:
                store.write(points)
            except StoreError as exc:
                log.warning("detector health not stored: %s", exc)
        return tuple(
            h
            for h in assessed
            if (old := previous.get(h.detector)) is None
            or (old.status, old.flags) != (h.status, h.flags)
        )

    # -- incidents -------------------------------------------------------------------------
    def _key(self, time_ns: int) -> int:
        assert self._step_ns is not None
        return (time_ns - 1) // self._step_ns + 1

    def _step_incidents(self, now_ns: int) -> list[Incident]:
        if self._step_ns is None or self._newest_ns is None or not self._buckets:
            return []
        step_ns = self._step_ns
        newest_key = self._key(self._newest_ns)
        closed_by_time = (now_ns - round(self.cfg.incident_grace_s * NS)) // step_ns
        closed_key = max(newest_key - 1, closed_by_time)
        first_key = self._key(now_ns - self.cfg.history_s * NS)
        if self._stepped_key is None:
            first_key = max(first_key, min(self._buckets))
        else:
            first_key = max(first_key, self._stepped_key + 1)
        changed: dict[str, Incident] = {}
        health = self._health
        for key in range(first_key, closed_key + 1):
            bucket = self._buckets.get(key, {})
            for incident in self._incidents.step(key * step_ns, bucket.values(), health):
                changed[incident.id] = incident
            self._stepped_key = key
        return list(changed.values())
