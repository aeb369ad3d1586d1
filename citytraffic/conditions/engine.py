"""Conditions engine: recent samples + the network -> conditions per detector and per link.

Pure: no clock, no store. The caller passes `now_ns` and the samples of the last
`history_s` (an hour by default; at least the 15 minutes of the freeway congestion rule plus the
averaging window), in any order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from citytraffic.conditions.config import DEFAULT_CONDITIONS, ConditionThresholds
from citytraffic.conditions.health import DetectorHealth
from citytraffic.conditions.obs import NS, LazySeries, Obs, combine_obs, obs_from_sample
from citytraffic.conditions.samples import DetectorSample
from citytraffic.conditions.series import ConditionValues, summarise
from citytraffic.domain.network import Detector, Link, Network


class DetectorConditions(ConditionValues, frozen=True, kw_only=True):
    """Conditions of one detector (one lane): flow_vph and density_vpkm are per lane."""

    detector: str
    site: str
    link: str
    lane: int
    health_status: str | None = None  # ok | suspect | bad, when health was passed in


class LinkConditions(ConditionValues, frozen=True, kw_only=True):
    """Conditions of one link. flow_vph and density_vpkm are totals over the reporting lanes
    (per-lane value x lanes_reporting); the *_per_lane fields are lane averages."""

    link: str
    name: str = ""
    lanes: int = 1
    lanes_reporting: int = 0
    detectors: tuple[str, ...] = ()  # detectors that fed the values
    excluded_detectors: tuple[str, ...] = ()  # left out because their health is bad
    flow_vph_per_lane: float | None = None
    density_vpkm_per_lane: float | None = None


class ConditionsSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    time_ns: int
    detectors: tuple[DetectorConditions, ...]
    links: tuple[LinkConditions, ...]
    ignored_samples: dict[str, int]  # reason -> count (unknown_detector, future, too_old)


def compute_conditions(
    network: Network,
    samples: Iterable[DetectorSample],
    now_ns: int,
    thresholds: ConditionThresholds = DEFAULT_CONDITIONS,
    health: Mapping[str, DetectorHealth] | None = None,
) -> ConditionsSnapshot:
    """Conditions of every detector and every link of `network` at `now_ns`."""
    th = thresholds
    known = {d.id: d for d in network.detectors}
    by_detector: dict[str, dict[int, DetectorSample]] = defaultdict(dict)
    ignored: dict[str, int] = defaultdict(int)
    oldest_ns = now_ns - th.history_s * NS
    newest_ns = now_ns + th.future_tolerance_s * NS
    for s in samples:
        if s.detector not in known:
            ignored["unknown_detector"] += 1
        elif s.time_ns > newest_ns:
            ignored["future"] += 1
        elif s.time_ns <= oldest_ns:
            ignored["too_old"] += 1
        else:
            by_detector[s.detector][s.time_ns] = s  # same time twice: the last one wins
    rows = {
        det_id: [by_time[t] for t in sorted(by_time)] for det_id, by_time in by_detector.items()
    }
    series = {det_id: LazySeries(r, obs_from_sample) for det_id, r in rows.items()}
    links = {ln.id: ln for ln in network.links}
    of_link: dict[str, list[Detector]] = defaultdict(list)
    for d in network.detectors:
        of_link[d.link].append(d)
    det_records = []
    for d in network.detectors:
        link = links.get(d.link)
        status = health[d.id].status if health is not None and d.id in health else None
        blocked = _blocked_reason(health, d.id)
        values = summarise(
            series.get(d.id, []),
            road_class=str(link.road_class) if link else "urban",
            free_flow_kmh=link.free_flow_kmh if link else 50.0,
            now_ns=now_ns,
            th=th,
            blocked_reason=blocked,
        )
        det_records.append(
            DetectorConditions(
                **msgspec.structs.asdict(values),
                detector=d.id,
                site=d.site,
                link=d.link,
                lane=d.lane,
                health_status=status,
            )
        )
    link_records = [_link_conditions(ln, of_link, rows, now_ns, th, health) for ln in network.links]
    return ConditionsSnapshot(
        time_ns=now_ns,
        detectors=tuple(det_records),
        links=tuple(link_records),
        ignored_samples=dict(ignored),
    )


def _blocked_reason(health: Mapping[str, DetectorHealth] | None, detector: str) -> str | None:
    if health is None or detector not in health:
        return None
    h = health[detector]
    if h.status != "bad":
        return None
    return f"detector health bad: {', '.join(h.flags)}"


def _link_conditions(
    link: Link,
    of_link: Mapping[str, Sequence[Detector]],
    rows: Mapping[str, Sequence[DetectorSample]],
    now_ns: int,
    th: ConditionThresholds,
    health: Mapping[str, DetectorHealth] | None,
) -> LinkConditions:
    dets = of_link.get(link.id, ())
    excluded = tuple(d.id for d in dets if _blocked_reason(health, d.id) is not None)
    used = [d for d in dets if d.id not in excluded and rows.get(d.id)]
    buckets: dict[int, list[tuple[int, DetectorSample]]] = defaultdict(list)
    for d in used:
        for sample in rows[d.id]:
            buckets[sample.time_ns // (max(sample.interval_s, 1) * NS)].append((d.lane, sample))
    link_series = LazySeries([buckets[k] for k in sorted(buckets)], _combine_lanes)
    lanes_now = len({lane for lane, _ in buckets[max(buckets)]}) if buckets else 0
    reason = None
    if not dets:
        reason = "no detectors on this link"
    elif not used and excluded:
        reason = f"all detectors excluded (health bad): {', '.join(excluded)}"
    values = summarise(
        link_series,
        road_class=str(link.road_class),
        free_flow_kmh=link.free_flow_kmh,
        now_ns=now_ns,
        th=th,
        blocked_reason=reason,
    )
    per_lane_flow, per_lane_density = values.flow_vph, values.density_vpkm
    values = msgspec.structs.replace(
        values,
        flow_vph=None if per_lane_flow is None else per_lane_flow * lanes_now,
        density_vpkm=None if per_lane_density is None else per_lane_density * lanes_now,
    )
    return LinkConditions(
        **msgspec.structs.asdict(values),
        link=link.id,
        name=link.name,
        lanes=link.lanes,
        lanes_reporting=lanes_now,
        detectors=tuple(d.id for d in used),
        excluded_detectors=excluded,
        flow_vph_per_lane=per_lane_flow,
        density_vpkm_per_lane=per_lane_density,
    )


def _combine_lanes(bucket: Sequence[tuple[int, DetectorSample]]) -> Obs:
    """One interval of a link: each lane's detectors averaged, then lanes combined per lane."""
    lanes: dict[int, list[Obs]] = defaultdict(list)
    for lane, sample in bucket:
        lanes[lane].append(obs_from_sample(sample))
    return combine_obs([combine_obs(obs) for obs in lanes.values()])
