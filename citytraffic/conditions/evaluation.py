"""Scoring incident detection against ground truth: detection rate, false alarms per
detector-day, mean time to detect.

Matching rules (`MatchRules`):
- only alarms that were confirmed count (`confirmed_only`); an alarm's time is its
  `confirmed_ns` (the moment an operator would be told), else its `start_ns`;
- an alarm matches a ground-truth incident when it is in the right place, i.e. the truth's link
  is one of the alarm's `links` or the two points are at most `max_distance_m` apart (queues
  reach upstream stations), and at the right time, i.e. its time lies in
  [truth start - `early_tolerance_s`, truth end + `late_tolerance_s`];
- alarms are taken in time order; an alarm detects at most one truth, the earliest-starting
  matching truth not yet detected; the time to detect is the alarm time minus the truth start
  (0 if earlier);
- an alarm that matches no truth is a false alarm; an alarm that matches only truths already
  detected (a second alarm on the same queue) is neither a false alarm nor a detection.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from citytraffic.conditions.incidents import Incident
from citytraffic.domain.network import haversine_m

NS = 1_000_000_000


class GroundTruthIncident(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    start_ns: int
    end_ns: int
    link: str | None = None
    lon: float | None = None
    lat: float | None = None


class EvaluationResult(msgspec.Struct, frozen=True, kw_only=True):
    detection_rate: float | None  # None without ground truth
    false_alarms_per_detector_day: float | None  # None when detector_days <= 0
    mean_time_to_detect_s: float | None  # None when nothing was detected
    median_time_to_detect_s: float | None
    ground_truth: int
    detected: int
    alarms: int  # alarms considered (confirmed ones by default)
    false_alarms: int
    detector_days: float
    first_match: dict[str, str]  # truth id -> id of its earliest matching alarm


@dataclass(frozen=True, slots=True)
class MatchRules:
    confirmed_only: bool = True
    early_tolerance_s: float = 60.0
    late_tolerance_s: float = 300.0
    max_distance_m: float = 2000.0


def evaluate(
    detected_incidents: Sequence[Incident],
    ground_truth_incidents: Sequence[GroundTruthIncident],
    detector_days: float,
    rules: MatchRules = MatchRules(),
) -> EvaluationResult:
    alarms = sorted(
        (a for a in detected_incidents if a.confirmed_ns is not None or not rules.confirmed_only),
        key=lambda a: (_alarm_time(a), a.id),
    )
    first_match: dict[str, str] = {}
    delays: list[float] = []
    false_alarms = 0
    for alarm in alarms:
        candidates = [g for g in ground_truth_incidents if _matches(alarm, g, rules)]
        if not candidates:
            false_alarms += 1
            continue
        fresh = [g for g in candidates if g.id not in first_match]
        if fresh:  # one alarm detects at most one incident: the earliest one still undetected
            truth = min(fresh, key=lambda g: (g.start_ns, g.id))
            first_match[truth.id] = alarm.id
            delays.append(max(0.0, (_alarm_time(alarm) - truth.start_ns) / NS))
    n_truth = len(ground_truth_incidents)
    return EvaluationResult(
        detection_rate=len(first_match) / n_truth if n_truth else None,
        false_alarms_per_detector_day=false_alarms / detector_days if detector_days > 0 else None,
        mean_time_to_detect_s=sum(delays) / len(delays) if delays else None,
        median_time_to_detect_s=statistics.median(delays) if delays else None,
        ground_truth=n_truth,
        detected=len(first_match),
        alarms=len(alarms),
        false_alarms=false_alarms,
        detector_days=detector_days,
        first_match=first_match,
    )


def _alarm_time(a: Incident) -> int:
    return a.confirmed_ns if a.confirmed_ns is not None else a.start_ns


def _matches(a: Incident, truth: GroundTruthIncident, rules: MatchRules) -> bool:
    t = _alarm_time(a)
    if not (
        truth.start_ns - rules.early_tolerance_s * NS
        <= t
        <= truth.end_ns + rules.late_tolerance_s * NS
    ):
        return False
    if truth.link is not None and truth.link in a.links:
        return True
    if truth.lon is not None and truth.lat is not None:
        return haversine_m(a.lon, a.lat, truth.lon, truth.lat) <= rules.max_distance_m
    return False
