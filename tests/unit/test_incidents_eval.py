"""Evaluation metrics on hand cases, and a backtest of the incident detector on a synthetic
freeway (a cell transmission model with capacity-reducing incidents whose queues propagate
upstream). `python tests/unit/test_incidents_eval.py [days] [seed] [baseline_days]` prints the
measured detection rate, false alarms per detector-day and time to detect as one JSON object;
`... city [days] [seed] [interval_s] [freeway,urban]` does the same on the synthetic city of
simulators/synthetic."""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pytest

from citytraffic.conditions import (
    DEFAULT_INCIDENTS,
    DetectorSample,
    GroundTruthIncident,
    Incident,
    MatchRules,
    TimeOfDayBaseline,
    detect_incidents,
    evaluate,
)
from citytraffic.domain.network import Detector, Link, Network, RoadClass, Site, SiteKind

NS = 1_000_000_000
T0 = 1_700_006_400 * NS  # 2023-11-15 00:00:00 UTC
DEG_PER_M = 1 / 111_195.0


def incident(
    id_: str,
    confirmed_s: float | None,
    *,
    start_s: float = 0.0,
    links: tuple[str, ...] = ("L1",),
    lat: float = 0.0,
) -> Incident:
    return Incident(
        id=id_,
        method="california8",
        state="ended",
        start_ns=T0 + int(start_s * NS),
        confirmed_ns=None if confirmed_s is None else T0 + int(confirmed_s * NS),
        updated_ns=T0,
        link=links[0],
        links=links,
        upstream_station="x",
        detectors=(),
        lon=0.0,
        lat=lat,
        confidence=0.5,
        intervals=1,
    )


def truth(
    id_: str, start_s: float, end_s: float, link: str | None = "L1", lat: float | None = None
) -> GroundTruthIncident:
    return GroundTruthIncident(
        id=id_,
        start_ns=T0 + int(start_s * NS),
        end_ns=T0 + int(end_s * NS),
        link=link,
        lon=None if lat is None else 0.0,
        lat=lat,
    )


def test_evaluation_hand_case() -> None:
    truths = [truth("g1", 1000, 2000), truth("g2", 5000, 6000), truth("g3", 9000, 9500)]
    alarms = [
        incident("a1", 1240),  # detects g1 after 240 s
        incident("a2", 1500),  # second alarm on g1: neither a detection nor a false alarm
        incident("a3", 5060, links=("L9",), lat=0.005),  # wrong link, ~556 m away: detects g2?
        incident("a4", 7000),  # nothing happening: false alarm
        incident("a5", None, start_s=9100),  # never confirmed: not counted
        incident("a6", 9500 + 400),  # after end + 300 s: false alarm, g3 missed
    ]
    # g2 has no coordinates, so a3 (on another link) does not match it
    r = evaluate(alarms, truths, detector_days=10.0)
    assert (r.ground_truth, r.detected, r.alarms, r.false_alarms) == (3, 1, 5, 3)
    assert r.detection_rate == pytest.approx(1 / 3)
    assert r.false_alarms_per_detector_day == pytest.approx(0.3)
    assert r.mean_time_to_detect_s == pytest.approx(240.0)
    assert r.first_match == {"g1": "a1"}
    # with coordinates, a3 is close enough to g2 (556 m <= 2000 m): detected after 60 s
    truths[1] = truth("g2", 5000, 6000, link=None, lat=0.0)
    r = evaluate(alarms, truths, detector_days=10.0)
    assert (r.detected, r.false_alarms) == (2, 2)
    assert r.mean_time_to_detect_s == pytest.approx((240 + 60) / 2)
    # counting unconfirmed alarms too: a5 (start 9100) detects g3
    r = evaluate(alarms, truths, 10.0, MatchRules(confirmed_only=False))
    assert r.detected == 3 and r.alarms == 6


def test_evaluation_edge_cases() -> None:
    r = evaluate([], [], detector_days=0.0)
    assert r.detection_rate is None and r.false_alarms_per_detector_day is None
    assert r.mean_time_to_detect_s is None
    early = evaluate([incident("a", 950)], [truth("g", 1000, 2000)], 1.0)
    assert early.detected == 1 and early.mean_time_to_detect_s == 0.0  # within 60 s early
    too_early = evaluate([incident("a", 900)], [truth("g", 1000, 2000)], 1.0)
    assert too_early.detected == 0 and too_early.false_alarms == 1


# --- synthetic freeway --------------------------------------------------------------------------


@dataclass(frozen=True)
class Corridor:
    stations: int = 10
    spacing_m: float = 1000.0
    cell_m: float = 250.0
    lanes: int = 3
    free_flow_kmh: float = 100.0
    capacity_vph_ln: float = 2000.0
    jam_vpkm_ln: float = 150.0
    bottleneck_capacity_vph_ln: float = 1800.0  # near the downstream end: recurrent queues
    dt_s: float = 5.0
    interval_s: int = 30
    effective_length_m: float = 7.5
    incidents_per_day: int = 3


def corridor_network(c: Corridor) -> Network:
    sites = tuple(
        Site(f"S{i}", SiteKind.STATION, 0.0, i * c.spacing_m * DEG_PER_M)
        for i in range(c.stations + 1)
    )
    links = tuple(
        Link(
            f"L{i}",
            ((0.0, i * c.spacing_m * DEG_PER_M), (0.0, (i + 1) * c.spacing_m * DEG_PER_M)),
            c.lanes,
            c.free_flow_kmh,
            RoadClass.FREEWAY,
            f"S{i}",
            f"S{i + 1}",
        )
        for i in range(c.stations)
    )
    detectors = tuple(
        Detector(f"d{i}", f"S{i}", f"L{i}", 1, c.spacing_m / 2) for i in range(c.stations)
    )
    return Network(name="synthetic-freeway", sites=sites, links=links, detectors=detectors)


def demand_vph_ln(hour: float) -> float:
    """Two peaks that exceed the downstream bottleneck (1800 veh/h/lane): recurrent queues."""
    return (
        500
        + 1350 * math.exp(-((hour - 8.0) ** 2) / 2.0)
        + 1300 * math.exp(-((hour - 17.5) ** 2) / 3.0)
    )


def simulate(
    c: Corridor, days: int, seed: int
) -> tuple[list[DetectorSample], list[GroundTruthIncident]]:
    """CTM (Daganzo) per lane, triangular fundamental diagram; detectors at mid-link cells."""
    rng = np.random.default_rng(seed)
    n_cells = int(c.stations * c.spacing_m / c.cell_m)
    v_kms = c.free_flow_kmh / 3600.0  # km/s
    w_kms = c.capacity_vph_ln / (c.jam_vpkm_ln - c.capacity_vph_ln / c.free_flow_kmh) / 3600.0
    cap = np.full(n_cells, c.capacity_vph_ln / 3600.0)  # veh/s/lane
    cap[-2] = c.bottleneck_capacity_vph_ln / 3600.0
    base_cap = cap.copy()
    cell_km = c.cell_m / 1000.0
    k = np.zeros(n_cells)  # veh/km/lane
    station_cells = [int((i * c.spacing_m + c.spacing_m / 2) / c.cell_m) for i in range(c.stations)]
    truths: list[GroundTruthIncident] = []
    events: list[tuple[int, int, int, float]] = []  # start step, end step, cell, capacity share
    steps_per_day = int(86400 / c.dt_s)
    for day in range(days):
        for j in range(c.incidents_per_day):
            start_s = day * 86400 + rng.uniform(6 * 3600, 21 * 3600)
            dur_s = rng.uniform(15 * 60, 45 * 60)
            cell = int(rng.integers(4, n_cells - 4))
            # every incident is felt: the capacity left is 40-80% of the demand at its start
            left_vph = rng.uniform(0.4, 0.8) * demand_vph_ln(start_s % 86400 / 3600.0)
            share = float(min(0.9, left_vph / c.capacity_vph_ln))
            events.append((int(start_s / c.dt_s), int((start_s + dur_s) / c.dt_s), cell, share))
            pos_m = (cell + 0.5) * c.cell_m
            truths.append(
                GroundTruthIncident(
                    id=f"g{day}-{j}",
                    start_ns=T0 + int(start_s * NS),
                    end_ns=T0 + int((start_s + dur_s) * NS),
                    link=f"L{int(pos_m // c.spacing_m)}",
                    lon=0.0,
                    lat=pos_m * DEG_PER_M,
                )
            )
    per_interval = int(c.interval_s / c.dt_s)
    acc_flow = np.zeros(len(station_cells))
    acc_k = np.zeros(len(station_cells))
    samples: list[DetectorSample] = []
    queue = 0.0
    for step in range(days * steps_per_day):
        t_s = step * c.dt_s
        hour = (t_s % 86400) / 3600.0
        demand = demand_vph_ln(hour) / 3600.0  # veh/s/lane
        cap[:] = base_cap
        for start, end, cell, share in events:
            if start <= step < end:
                cap[cell] = base_cap[cell] * share
        send = np.minimum(v_kms * k, cap)
        recv = np.minimum(cap, w_kms * (c.jam_vpkm_ln - k))
        inner = np.minimum(send[:-1], recv[1:])
        inflow = min(demand + queue / c.dt_s, recv[0])
        queue = max(0.0, queue + (demand - inflow) * c.dt_s)
        flows_in = np.concatenate(([inflow], inner))
        flows_out = np.concatenate((inner, [send[-1]]))
        k = k + (flows_in - flows_out) * c.dt_s / cell_km
        acc_flow += flows_out[station_cells]
        acc_k += k[station_cells]
        if (step + 1) % per_interval == 0:
            end_ns = T0 + int((step + 1) * c.dt_s * NS)
            mean_q = acc_flow / per_interval * 3600.0  # veh/h/lane
            mean_k = acc_k / per_interval
            counts = rng.poisson(mean_q * c.interval_s / 3600.0)
            for i, n in enumerate(counts):
                speed = min(c.free_flow_kmh, mean_q[i] / mean_k[i]) if mean_k[i] > 0.01 else None
                speed_obs = None if speed is None or n == 0 else speed * rng.normal(1.0, 0.05)
                occ = (
                    n / speed_obs * c.effective_length_m / 1000.0 * 3600.0 / c.interval_s
                    if speed_obs
                    else 0.0
                )
                samples.append(
                    DetectorSample(
                        detector=f"d{i}",
                        time_ns=end_ns,
                        interval_s=c.interval_s,
                        count=int(n),
                        occupancy=round(min(occ, 1.0), 4),
                        speed_kmh=None if speed_obs is None else round(speed_obs, 1),
                    )
                )
            acc_flow[:] = 0.0
            acc_k[:] = 0.0
    return samples, truths


def backtest(
    days: int = 2, seed: int = 7, baseline_days: int = 0, **thresholds: object
) -> dict[str, object]:
    """Simulate `baseline_days` + `days`; fit a time-of-day baseline on the first ones (if
    any), detect on the rest and score against the incidents of the rest."""
    c = Corridor()
    samples, truths = simulate(c, baseline_days + days, seed)
    split_ns = T0 + baseline_days * 86400 * NS
    th = dataclasses.replace(DEFAULT_INCIDENTS, **thresholds)  # type: ignore[arg-type]
    baseline = (
        TimeOfDayBaseline.fit(s for s in samples if s.time_ns <= split_ns)
        if baseline_days
        else None
    )
    test = [s for s in samples if s.time_ns > split_ns]
    incidents = detect_incidents(corridor_network(c), test, th, baseline=baseline)
    truths = [g for g in truths if g.start_ns > split_ns]
    result = evaluate(incidents, truths, detector_days=c.stations * days)
    by_method: dict[str, int] = {}
    for i in incidents:
        if i.confirmed_ns is not None:
            by_method[i.method] = by_method.get(i.method, 0) + 1
    return {
        **msgspec.to_builtins(result),
        "days": days,
        "baseline_days": baseline_days,
        "seed": seed,
        "smoothing_s": th.smoothing_s,
        "confirmed_by_method": by_method,
        "samples": len(test),
    }


@pytest.mark.slow
def test_backtest_on_synthetic_freeway() -> None:
    r = backtest(days=2, seed=7)
    assert r["ground_truth"] == 6
    assert r["detection_rate"] is not None and r["detection_rate"] >= 0.5  # type: ignore[operator]
    assert r["false_alarms_per_detector_day"] is not None
    assert r["false_alarms_per_detector_day"] <= 1.0  # type: ignore[operator]
    assert r["mean_time_to_detect_s"] is not None and r["mean_time_to_detect_s"] < 900  # type: ignore[operator]


# --- the synthetic city of simulators/synthetic --------------------------------------------------


def city_backtest(
    days: int = 1,
    seed: int = 1,
    interval_s: int = 60,
    classes: tuple[str, ...] = ("freeway", "urban"),
) -> dict[str, object]:
    """Three incidents a day (capacity to 30% for 15-45 min, 06:00-21:00 local) on random
    detector links of `classes` of the synthetic city; detect on those classes only."""
    from simulators.synthetic import CityConfig, SyntheticModel, build_city
    from simulators.synthetic import Incident as CityIncident

    city = build_city(CityConfig())
    net = city.network
    road_class = {ln.id: str(ln.road_class) for ln in net.links}
    links = {ln.id: ln for ln in net.links}
    candidates = sorted({d.link for d in net.detectors if road_class[d.link] in classes})
    rng = np.random.default_rng(seed)
    local_midnight = datetime(2026, 3, 2, tzinfo=ZoneInfo(city.config.timezone))
    events, truths = [], []
    for day in range(days):
        for j in range(3):
            link = links[candidates[int(rng.integers(len(candidates)))]]
            start = local_midnight + timedelta(days=day, seconds=float(rng.uniform(6, 21) * 3600))
            duration_s = float(rng.uniform(15 * 60, 45 * 60))
            events.append(CityIncident(link.id, start, duration_s, 0.3))
            (lon0, lat0), (lon1, lat1) = link.coordinates[0], link.coordinates[-1]
            truths.append(
                GroundTruthIncident(
                    id=f"g{day}-{j}",
                    start_ns=int(start.timestamp()) * NS,
                    end_ns=int(start.timestamp() + duration_s) * NS,
                    link=link.id,
                    lon=(lon0 + lon1) / 2,
                    lat=(lat0 + lat1) / 2,
                )
            )
    model = SyntheticModel(city, seed, interval_s, tuple(events))
    samples = [
        DetectorSample(
            detector=r.detector,
            time_ns=int(site.ts.timestamp()) * NS,
            interval_s=site.interval_s,
            count=r.count,
            occupancy=r.occupancy,
            speed_kmh=r.speed_kmh,
        )
        for step in model.run(local_midnight, days * 86400 // interval_s)
        for site in step
        for r in site.readings
    ]
    th = dataclasses.replace(DEFAULT_INCIDENTS, road_classes=classes)
    incidents = detect_incidents(net, samples, th)
    detectors = sum(road_class[d.link] in classes for d in net.detectors)
    result = evaluate(incidents, truths, detector_days=detectors * days)
    return {
        **msgspec.to_builtins(result),
        "days": days,
        "seed": seed,
        "interval_s": interval_s,
        "classes": list(classes),
        "detectors": detectors,
    }


@pytest.mark.slow
def test_city_backtest_runs_and_finds_incidents() -> None:
    r = city_backtest(days=1, seed=1, interval_s=60)
    assert r["ground_truth"] == 3 and r["detected"] >= 1  # type: ignore[operator]
    assert r["false_alarms_per_detector_day"] < 0.5  # type: ignore[operator]


if __name__ == "__main__":
    if sys.argv[1:2] == ["city"]:
        days, seed, interval = (
            int(a) for a in (sys.argv[2:5] + ["1", "1", "60"][len(sys.argv[2:5]) :])
        )
        classes = tuple(sys.argv[5].split(",")) if len(sys.argv) > 5 else ("freeway", "urban")
        out = city_backtest(days, seed, interval, classes)
    else:
        out = backtest(*(int(a) for a in sys.argv[1:4]))
    sys.stdout.write(msgspec.json.encode(out).decode() + "\n")
