"""Incident detection over a network, one interval at a time (`IncidentDetector`) or in batch.

Which rule watches what (stations and pairs: see pairing.py):
- a station pair where both stations report occupancy: California #8 (with a time-of-day
  baseline, an upstream occupancy usual for the time of day starts no new alarm);
- every station pair, `pair_persistence`: congestion (occupancy >= 0.25 or speed <= 50% of
  FFS) at the upstream station while the downstream one is free, for 3 intervals (McMaster's
  idea). It is the only rule for speed-only stations (METR-LA) and catches incidents whose
  queue reaches the upstream station after the downstream drop California needs (DOCCTD) is
  over; `pair_persistence_with_occupancy=False` keeps it to speed-only pairs. One alarm per pair
  at a time: an active alarm of one rule keeps the other from starting;
- a station with no downstream neighbour: `station_persistence`, congestion (occupancy >= 0.25
  or speed <= 50% of FFS) for 3 intervals that began abruptly (free within 3 intervals before)
  or that is beyond the station's time-of-day baseline when one is given.

Station occupancy is the mean over its lanes, averaged over the intervals of the last
`smoothing_s` (150 s: 5 intervals of 30 s, 1 of 5 min), for every rule: California's tests on
raw 30 s occupancy fire on Poisson noise (docs/conditions.md has the measured effect).

Only unflagged readings of detectors whose health is not `bad` feed the rules; a station whose
readings are all flagged counts as missing for that interval.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping

from citytraffic.conditions.baseline import TimeOfDayBaseline
from citytraffic.conditions.config import DEFAULT_INCIDENTS, IncidentThresholds
from citytraffic.conditions.health import DetectorHealth
from citytraffic.conditions.incidents import Alarm, California8, Incident, Persistence
from citytraffic.conditions.obs import NS, Obs, combine_obs, obs_from_sample
from citytraffic.conditions.pairing import Station, StationPair, build_pairs, build_stations
from citytraffic.conditions.samples import DetectorSample
from citytraffic.domain.network import Network


class IncidentDetector:
    def __init__(
        self,
        network: Network,
        thresholds: IncidentThresholds = DEFAULT_INCIDENTS,
        *,
        baseline: TimeOfDayBaseline | None = None,
    ) -> None:
        self.th = thresholds
        self.baseline = baseline
        self.stations = [
            s
            for s in build_stations(network, thresholds)
            if s.road_class in thresholds.road_classes
        ]
        self.pairs = build_pairs(network, self.stations, thresholds)
        self._stations = {s.id: s for s in self.stations}
        self._station_of = {d: s.id for s in self.stations for d in s.detectors}
        self._ca8 = {p.upstream: California8(_pair_key(p), thresholds) for p in self.pairs}
        self._pair_persist = {
            p.upstream: Persistence("pair_persistence", _pair_key(p), thresholds)
            for p in self.pairs
        }
        paired = {p.upstream for p in self.pairs}
        self._single = {
            s.id: Persistence("station_persistence", s.id, thresholds)
            for s in self.stations
            if s.id not in paired
        }
        self._history: dict[str, deque[tuple[int, float | None]]] = defaultdict(
            lambda: deque(maxlen=3)
        )
        self._raw: dict[str, deque[float | None]] = defaultdict(
            lambda: deque(maxlen=max(1, thresholds.smoothing_s))  # intervals are >= 1 s
        )
        self._step = 0
        self._active: dict[str, Incident] = {}
        self._ended: deque[Incident] = deque(maxlen=thresholds.max_ended_kept)

    def active(self) -> list[Incident]:
        """Tentative and confirmed incidents, oldest first."""
        return sorted(self._active.values(), key=lambda i: (i.start_ns, i.id))

    def ended(self) -> list[Incident]:
        """The most recent ended incidents (at most `max_ended_kept`), oldest first."""
        return list(self._ended)

    def step(
        self,
        time_ns: int,
        samples: Iterable[DetectorSample],
        health: Mapping[str, DetectorHealth] | None = None,
    ) -> list[Incident]:
        """Consume the readings of one interval ending at `time_ns`; return the incidents that
        started, changed or ended in it. Call once per interval, in time order, also when no
        readings came (then every location counts as missing)."""
        self._step += 1
        values = self._station_values(samples, health)
        for sid in self._stations:
            value = values.get(sid)
            raw = self._raw[sid]
            raw.append(None if value is None else value[0].occupancy)
            occ = None
            if value is not None and value[0].occupancy is not None:
                n = max(1, self.th.smoothing_s // max(1, value[0].interval_s))
                recent = [o for o in list(raw)[-n:] if o is not None]
                occ = sum(recent) / len(recent)
                values[sid] = (dataclasses.replace(value[0], occupancy=occ), value[1])
            self._history[sid].append((self._step, None if occ is None else occ * 100.0))
        changed: list[Incident] = []
        for pair in self.pairs:
            up, down = values.get(pair.upstream), values.get(pair.downstream)
            for pair_alarm in self._update_pair(pair, time_ns, up, down):
                changed.append(self._publish(pair_alarm, pair.upstream, pair))
        for sid, machine in self._single.items():
            alarm = self._update_single(sid, machine, time_ns, values.get(sid))
            if alarm is not None:
                changed.append(self._publish(alarm, sid, None))
        return changed

    def _station_values(
        self, samples: Iterable[DetectorSample], health: Mapping[str, DetectorHealth] | None
    ) -> dict[str, tuple[Obs, float]]:
        by_station: dict[str, list[Obs]] = defaultdict(list)
        for s in samples:
            sid = self._station_of.get(s.detector)
            if sid is None or (health is not None and _bad(health, s.detector)):
                continue
            obs = obs_from_sample(s)
            if not obs.flags:
                by_station[sid].append(obs)
        return {
            sid: (combine_obs(obs), min(1.0, len(obs) / len(self._stations[sid].detectors)))
            for sid, obs in by_station.items()
        }

    def _update_pair(
        self,
        pair: StationPair,
        time_ns: int,
        up: tuple[Obs, float] | None,
        down: tuple[Obs, float] | None,
    ) -> list[Alarm]:
        """California #8 where both stations have occupancy; the pair persistence rule where
        they do not, and (if `pair_persistence_with_occupancy`) beside California for slow
        incidents. One alarm per pair at a time: an active alarm of one rule keeps the other
        from starting."""
        ca8, persist = self._ca8[pair.upstream], self._pair_persist[pair.upstream]
        changed: list[Alarm | None] = []
        both = up is not None and down is not None
        with_occ = both and None not in (up[0].occupancy, down[0].occupancy)  # type: ignore[index]
        if up is not None and down is not None and with_occ:
            ago = [v for step, v in self._history[pair.downstream] if step == self._step - 2]
            usual = self._anomalous(self._stations[pair.upstream], up[0], time_ns) is False
            changed.append(
                ca8.update(
                    time_ns,
                    (up[0].occupancy or 0.0) * 100.0,
                    (down[0].occupancy or 0.0) * 100.0,
                    ago[0] if ago else None,
                    min(up[1], down[1]),
                    may_start=not usual and persist.alarm is None,
                )
            )
        else:
            changed.append(ca8.update(time_ns, None, None, None))
        if up is None or down is None:
            changed.append(persist.update(time_ns, None, False, None))
        elif not with_occ or self.th.pair_persistence_with_occupancy:
            s_up, s_down = self._stations[pair.upstream], self._stations[pair.downstream]
            changed.append(
                persist.update(
                    time_ns,
                    self._congested(s_up, up[0]) and self._free(s_down, down[0]),
                    self._free(s_up, up[0]),
                    self._anomalous(s_up, up[0], time_ns),
                    min(up[1], down[1]),
                    may_start=ca8.alarm is None,
                )
            )
        return [a for a in changed if a is not None]

    def _update_single(
        self, sid: str, machine: Persistence, time_ns: int, value: tuple[Obs, float] | None
    ) -> Alarm | None:
        if value is None:
            return machine.update(time_ns, None, False, None)
        station, obs = self._stations[sid], value[0]
        return machine.update(
            time_ns,
            self._congested(station, obs),
            self._free(station, obs),
            self._anomalous(station, obs, time_ns),
            value[1],
        )

    def _congested(self, s: Station, o: Obs) -> bool:
        th = self.th
        if o.occupancy is not None and o.occupancy >= th.station_congested_occupancy:
            return True
        ratio = _ratio(s, o)
        return ratio is not None and ratio <= th.station_congested_speed_ratio

    def _free(self, s: Station, o: Obs) -> bool:
        th, ratio = self.th, _ratio(s, o)
        if o.occupancy is None and ratio is None:
            return False
        occ_ok = o.occupancy is None or o.occupancy <= th.station_free_occupancy
        return occ_ok and (ratio is None or ratio >= th.station_free_speed_ratio)

    def _anomalous(self, s: Station, o: Obs, time_ns: int) -> bool | None:
        """Beyond the time-of-day baseline? None when there is no baseline for this slot."""
        if self.baseline is None:
            return None
        typical = [self.baseline.typical(d, time_ns) for d in s.detectors]
        occs = [t[0] for t in typical if t[0] is not None]
        speeds = [t[1] for t in typical if t[1] is not None]
        if not occs and not speeds:
            return None
        th, ratio = self.th, _ratio(s, o)
        margin = th.baseline_margin_occupancy
        if occs and o.occupancy is not None and o.occupancy >= sum(occs) / len(occs) + margin:
            return True
        if speeds and ratio is not None:
            typical_ratio = sum(speeds) / len(speeds) / s.free_flow_kmh
            if ratio <= typical_ratio - th.baseline_margin_speed_ratio:
                return True
        return False

    def _publish(self, alarm: Alarm, station_id: str, pair: StationPair | None) -> Incident:
        up = self._stations[station_id]
        down = self._stations[pair.downstream] if pair is not None else None
        incident = Incident(
            id=alarm.id,
            method=alarm.method,
            state=alarm.state,
            start_ns=alarm.start_ns,
            confirmed_ns=alarm.confirmed_ns,
            end_ns=alarm.end_ns,
            end_reason=alarm.end_reason,
            updated_ns=alarm.updated_ns,
            link=up.link,
            links=pair.links if pair is not None else (up.link,),
            upstream_station=up.id,
            downstream_station=down.id if down is not None else None,
            detectors=up.detectors + (down.detectors if down is not None else ()),
            lon=(up.lon + down.lon) / 2 if down is not None else up.lon,
            lat=(up.lat + down.lat) / 2 if down is not None else up.lat,
            confidence=alarm.confidence(self.th),
            intervals=alarm.intervals,
            occdf_pct=_round(alarm.metrics.get("occdf_pct")),
            occrdf=_round(alarm.metrics.get("occrdf")),
            docctd=_round(alarm.metrics.get("docctd")),
            description=_describe(alarm, up, down),
        )
        if incident.state == "ended":
            self._active.pop(incident.id, None)
            self._ended.append(incident)
        else:
            self._active[incident.id] = incident
        return incident


def detect_incidents(
    network: Network,
    samples: Iterable[DetectorSample],
    thresholds: IncidentThresholds = DEFAULT_INCIDENTS,
    *,
    step_s: int | None = None,
    baseline: TimeOfDayBaseline | None = None,
    health: Mapping[str, DetectorHealth] | None = None,
) -> list[Incident]:
    """Backtest: run an IncidentDetector over stored samples; every incident in its last state.

    Samples are grouped into steps of `step_s` (default: the most common interval) by the end of
    their interval; empty steps between the first and the last are fed too."""
    rows = list(samples)
    if not rows:
        return []
    step = step_s or Counter(s.interval_s for s in rows).most_common(1)[0][0]
    step_ns = max(1, step) * NS
    buckets: dict[int, list[DetectorSample]] = defaultdict(list)
    for s in rows:
        buckets[(s.time_ns - 1) // step_ns + 1].append(s)
    detector = IncidentDetector(network, thresholds, baseline=baseline)
    latest: dict[str, Incident] = {}
    for key in range(min(buckets), max(buckets) + 1):
        for incident in detector.step(key * step_ns, buckets.get(key, []), health):
            latest[incident.id] = incident
    return sorted(latest.values(), key=lambda i: (i.start_ns, i.id))


def _pair_key(p: StationPair) -> str:
    return f"{p.upstream}>{p.downstream}"


def _bad(health: Mapping[str, DetectorHealth], detector: str) -> bool:
    h = health.get(detector)
    return h is not None and h.status == "bad"


def _ratio(s: Station, o: Obs) -> float | None:
    if o.speed_kmh is None or s.free_flow_kmh <= 0:
        return None
    return o.speed_kmh / s.free_flow_kmh


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _describe(alarm: Alarm, up: Station, down: Station | None) -> str:
    if alarm.method == "california8":
        m = alarm.metrics
        return (
            f"occupancy difference between {up.id} and {down.id if down else '?'}: "
            f"OCCDF {m.get('occdf_pct') or 0:.1f} points, OCCRDF {m.get('occrdf') or 0:.2f}"
        )
    if down is not None:
        return f"congestion at {up.id} while {down.id} downstream flows freely"
    return f"congestion at {up.id} persisting for {alarm.intervals} intervals"
