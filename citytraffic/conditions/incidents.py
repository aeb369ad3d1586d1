"""Incident records and the per-location state machines (domain.md section 4).

- `California8`: one upstream/downstream station pair, occupancies in percent, each interval:
  OCCDF = O_up - O_down, OCCRDF = OCCDF / O_up, DOCCTD = (O_down(t-2) - O_down) / O_down(t-2).
  Tentative when OCCDF >= 8, OCCRDF >= 0.5 and DOCCTD >= 0.3; confirmed when OCCRDF >= 0.5 for
  `confirm_intervals` more intervals (else it ends as `not_confirmed`); it lasts while OCCRDF
  >= 0.5 (then it ends as `cleared`). Compression wave (#8): downstream occupancy >= 30% or
  DOCCTD < -0.4 blocks new detections for the next 5 intervals and cancels a tentative alarm.
- `Persistence`: a McMaster-like rule on one location: congested for `persistence_intervals`
  in a row -> tentative, `station_confirm_intervals` more -> confirmed, free for
  `clear_intervals` in a row -> ended. The caller decides per interval whether the location is
  congested (own thresholds, downstream neighbour free) and free; the machine requires the
  congestion to have begun abruptly (free within `onset_lookback_intervals` before it: recurrent
  congestion builds up gradually) and, with a time-of-day baseline, to be unusual.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import msgspec

from citytraffic.conditions.config import IncidentThresholds


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    method: str  # california8 | pair_persistence | station_persistence
    state: str  # tentative | confirmed | ended
    start_ns: int  # end of the first interval of the alarm
    confirmed_ns: int | None = None
    end_ns: int | None = None
    end_reason: str | None = None  # cleared | not_confirmed | compression_wave | data_missing
    updated_ns: int
    link: str  # link of the upstream (or only) station
    links: tuple[str, ...]  # links between the stations (where the incident may be)
    upstream_station: str
    downstream_station: str | None = None
    detectors: tuple[str, ...]
    lon: float
    lat: float
    confidence: float  # 0..1
    intervals: int  # intervals since start
    occdf_pct: float | None = None  # California: latest values
    occrdf: float | None = None
    docctd: float | None = None
    description: str = ""

    @property
    def was_confirmed(self) -> bool:
        return self.confirmed_ns is not None


@dataclass(slots=True)
class Alarm:
    """Mutable state of one incident while it is being tracked."""

    id: str
    method: str
    start_ns: int
    state: str = "tentative"
    confirmed_ns: int | None = None
    end_ns: int | None = None
    end_reason: str | None = None
    updated_ns: int = 0
    intervals: int = 1
    since_confirmed: int = 0
    quality: float = 1.0
    metrics: dict[str, float | None] = field(default_factory=dict)

    def confidence(self, th: IncidentThresholds) -> float:
        if self.state == "tentative" or self.confirmed_ns is None:
            value = th.tentative_confidence
        else:
            value = min(
                th.max_confidence,
                th.confirmed_confidence + th.confidence_step * self.since_confirmed,
            )
        if self.method != "california8":
            value *= th.single_station_factor
        return round(value * self.quality, 3)

    def end(self, time_ns: int, reason: str) -> None:
        self.state, self.end_ns, self.end_reason, self.updated_ns = (
            "ended",
            time_ns,
            reason,
            time_ns,
        )


def incident_id(method: str, location: str, start_ns: int) -> str:
    digest = hashlib.sha1(f"{method}|{location}|{start_ns}".encode(), usedforsecurity=False)
    return "inc-" + digest.hexdigest()[:16]


class California8:
    """California algorithm #8 on one station pair."""

    def __init__(self, location: str, th: IncidentThresholds) -> None:
        self.location = location
        self.th = th
        self.suppress = 0
        self.missing = 0
        self.alarm: Alarm | None = None

    def update(
        self,
        time_ns: int,
        up_pct: float | None,
        down_pct: float | None,
        down_2ago_pct: float | None,
        quality: float = 1.0,
        *,
        may_start: bool = True,
    ) -> Alarm | None:
        """Feed one interval; returns the alarm if it was created or changed. `may_start`
        False (e.g. the upstream occupancy is usual for the time of day) blocks a new alarm."""
        th, alarm = self.th, self.alarm
        if up_pct is None or down_pct is None:
            self.missing += 1
            self.suppress = max(0, self.suppress - 1)
            if alarm is None:
                return None
            if alarm.state == "tentative" or self.missing >= th.max_missing_intervals:
                reason = "not_confirmed" if alarm.state == "tentative" else "data_missing"
                return self._finish(time_ns, reason)
            return None
        self.missing = 0
        occdf = up_pct - down_pct
        occrdf = occdf / up_pct if up_pct >= th.min_upstream_occ_pct else None
        docctd = (
            (down_2ago_pct - down_pct) / down_2ago_pct
            if down_2ago_pct is not None and down_2ago_pct > 0
            else None
        )
        compression = down_pct >= th.compression_occ_pct or (
            docctd is not None and docctd < th.compression_docctd
        )
        blocked = self.suppress > 0 or compression
        self.suppress = th.suppression_intervals if compression else max(0, self.suppress - 1)
        metrics: dict[str, float | None] = {"occdf_pct": occdf, "occrdf": occrdf, "docctd": docctd}
        holding = occrdf is not None and occrdf >= th.occrdf_min
        if alarm is None:
            tripped = (
                holding
                and occdf >= th.occdf_min_pct
                and docctd is not None
                and docctd >= th.docctd_min
            )
            if blocked or not tripped or not may_start:
                return None
            self.alarm = Alarm(
                id=incident_id("california8", self.location, time_ns),
                method="california8",
                start_ns=time_ns,
                updated_ns=time_ns,
                quality=quality,
                metrics=metrics,
            )
            return self.alarm
        alarm.metrics, alarm.quality, alarm.updated_ns = metrics, quality, time_ns
        alarm.intervals += 1
        if alarm.state == "tentative":
            if compression:
                return self._finish(time_ns, "compression_wave")
            if not holding:
                return self._finish(time_ns, "not_confirmed")
            if alarm.intervals - 1 >= th.confirm_intervals:
                alarm.state, alarm.confirmed_ns = "confirmed", time_ns
            return alarm
        if not holding:
            return self._finish(time_ns, "cleared")
        alarm.since_confirmed += 1
        return alarm

    def _finish(self, time_ns: int, reason: str) -> Alarm | None:
        alarm, self.alarm = self.alarm, None
        if alarm is not None:
            alarm.end(time_ns, reason)
        return alarm


class Persistence:
    """McMaster-like persistence of congestion at one location (station or station pair)."""

    def __init__(self, method: str, location: str, th: IncidentThresholds) -> None:
        self.method = method
        self.location = location
        self.th = th
        self.step = 0
        self.run = 0  # congested intervals in a row
        self.run_start_ns = 0
        self.free_run = 0
        self.last_free_step: int | None = None
        self.onset_ok = False
        self.missing = 0
        self.alarm: Alarm | None = None

    def update(
        self,
        time_ns: int,
        congested: bool | None,
        free: bool,
        anomalous: bool | None = None,
        quality: float = 1.0,
        *,
        may_start: bool = True,
    ) -> Alarm | None:
        """Feed one interval. `congested` None = no data; `free` = clearly uncongested;
        `anomalous`: beyond the location's time-of-day baseline (True / False; None without a
        baseline). An alarm needs an abrupt onset (free shortly before the congestion began)
        and no `anomalous=False`; with `baseline_replaces_onset` a baseline verdict replaces
        the onset test instead."""
        th, alarm = self.th, self.alarm
        self.step += 1
        if congested is None:
            self.missing += 1
            self.run = 0
            if alarm is not None and (
                alarm.state == "tentative" or self.missing >= th.max_missing_intervals
            ):
                reason = "not_confirmed" if alarm.state == "tentative" else "data_missing"
                return self._finish(time_ns, reason)
            return None
        self.missing = 0
        if congested:
            if self.run == 0:
                self.run_start_ns = time_ns
                lookback = th.onset_lookback_intervals
                self.onset_ok = (
                    self.last_free_step is not None and self.step - self.last_free_step <= lookback
                )
            self.run += 1
            self.free_run = 0
        else:
            self.run = 0
            self.free_run = self.free_run + 1 if free else 0
            if free:
                self.last_free_step = self.step
        if alarm is None:
            if anomalous is None:
                unusual = self.onset_ok
            elif th.baseline_replaces_onset:
                unusual = anomalous
            else:
                unusual = self.onset_ok and anomalous
            if congested and unusual and may_start and self.run >= th.persistence_intervals:
                self.alarm = Alarm(
                    id=incident_id(self.method, self.location, self.run_start_ns),
                    method=self.method,
                    start_ns=self.run_start_ns,
                    updated_ns=time_ns,
                    intervals=self.run,
                    quality=quality,
                )
                return self.alarm
            return None
        alarm.quality, alarm.updated_ns = quality, time_ns
        alarm.intervals += 1
        if alarm.state == "tentative":
            if not congested:
                return self._finish(time_ns, "not_confirmed")
            if self.run >= th.persistence_intervals + th.station_confirm_intervals:
                alarm.state, alarm.confirmed_ns = "confirmed", time_ns
            return alarm
        if self.free_run >= th.clear_intervals:
            return self._finish(time_ns, "cleared")
        alarm.since_confirmed += 1
        return alarm

    def _finish(self, time_ns: int, reason: str) -> Alarm | None:
        alarm, self.alarm = self.alarm, None
        if alarm is not None:
            alarm.end(time_ns, reason)
        return alarm
