"""Incident detection: station pairing, California #8 state machine, compression-wave
suppression, the persistence rules, and the detector / batch function."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest

from citytraffic.conditions import (
    DEFAULT_INCIDENTS,
    DetectorSample,
    IncidentDetector,
    IncidentThresholds,
    TimeOfDayBaseline,
    build_pairs,
    build_stations,
    detect_incidents,
)
from citytraffic.conditions.incidents import California8, Persistence
from citytraffic.domain.network import Detector, Link, Network, RoadClass, Site, SiteKind

NS = 1_000_000_000
RAW = dataclasses.replace(DEFAULT_INCIDENTS, smoothing_s=0)  # the rules on raw intervals
T0 = 1_700_049_600 * NS
DEG_PER_KM = 1 / 111.195  # latitude degrees per km


def corridor() -> Network:
    """A (2 km north) -> S2 -> B (1 km north); SIDE turns east at S2. Stations: a1 at 500 m
    and a2 at 1500 m on A, b1 at 500 m on B, s1 on SIDE."""
    k = DEG_PER_KM
    return Network(
        name="corridor",
        sites=(
            Site("S1", SiteKind.STATION, 0.0, 0.0),
            Site("S2", SiteKind.STATION, 0.0, 2 * k),
            Site("S3", SiteKind.STATION, 0.0, 3 * k),
            Site("S4", SiteKind.STATION, 0.02, 2 * k),
        ),
        links=(
            Link("A", ((0.0, 0.0), (0.0, 2 * k)), 2, 100.0, RoadClass.FREEWAY, "S1", "S2"),
            Link("B", ((0.0, 2 * k), (0.0, 3 * k)), 2, 100.0, RoadClass.FREEWAY, "S2", "S3"),
            Link("SIDE", ((0.0, 2 * k), (0.02, 2 * k)), 1, 100.0, RoadClass.FREEWAY, "S2", "S4"),
        ),
        detectors=(
            Detector("a1", "S1", "A", 1, 500.0),
            Detector("a1b", "S1", "A", 2, 510.0),
            Detector("a2", "S2", "A", 1, 1500.0),
            Detector("b1", "S2", "B", 1, 500.0),
            Detector("s1", "S4", "SIDE", 1, 500.0),
        ),
    )


def test_stations_group_lanes_and_pairs_follow_the_road() -> None:
    net = corridor()
    stations = build_stations(net)
    assert [(s.id, s.detectors) for s in stations] == [
        ("A@505", ("a1", "a1b")),
        ("A@1500", ("a2",)),
        ("B@500", ("b1",)),
        ("SIDE@500", ("s1",)),
    ]
    assert stations[0].lat == pytest.approx(0.505 * DEG_PER_KM, rel=1e-3)
    pairs = {(p.upstream, p.downstream): p for p in build_pairs(net, stations)}
    assert set(pairs) == {("A@505", "A@1500"), ("A@1500", "B@500")}
    assert pairs[("A@505", "A@1500")].basis == "same_link"
    straight = pairs[("A@1500", "B@500")]
    assert straight.basis == "connectivity" and straight.links == ("A", "B")
    assert straight.distance_m == pytest.approx(1000.0, abs=5)


def test_geometric_pairing_for_freeway_stations_without_sites() -> None:
    k = DEG_PER_KM
    net = Network(
        name="metr",
        links=(
            Link("n1", ((0.0, 0.0), (0.0, 0.1 * k)), 1, 100.0, RoadClass.FREEWAY),
            Link("n2", ((0.0005, 1.0 * k), (0.0005, 1.1 * k)), 1, 100.0, RoadClass.FREEWAY),
            Link("s1", ((0.0003, 0.6 * k), (0.0003, 0.5 * k)), 1, 100.0, RoadClass.FREEWAY),
            Link("far", ((0.0, 5.0 * k), (0.0, 5.1 * k)), 1, 100.0, RoadClass.FREEWAY),
        ),
        detectors=tuple(Detector(f"d{n}", "x", n, 1, 50.0) for n in ("n1", "n2", "s1", "far")),
    )
    pairs = build_pairs(net, build_stations(net))
    assert [(p.upstream, p.downstream, p.basis) for p in pairs] == [("n1@50", "n2@50", "geometry")]
    assert pairs[0].distance_m == pytest.approx(1000.0, abs=10)
    no_geo = dataclasses.replace(DEFAULT_INCIDENTS, geometric_pairing=False)
    assert build_pairs(net, build_stations(net, no_geo), no_geo) == []


def run_ca8(seq: list[tuple[float, float]]) -> list[tuple[int, str, str | None]]:
    """Feed (upstream %, downstream %) pairs; return (index, state, end_reason) of changes."""
    machine = California8("p", DEFAULT_INCIDENTS)
    out = []
    for i, (up, down) in enumerate(seq):
        two_ago = seq[i - 2][1] if i >= 2 else None
        alarm = machine.update(T0 + i * 30 * NS, up, down, two_ago)
        if alarm is not None:
            out.append((i, alarm.state, alarm.end_reason))
    return out


NORMAL = [(10.0, 9.0)] * 3


def test_california8_tentative_confirmed_ended() -> None:
    # t=3: OCCDF 20 >= 8, OCCRDF 0.8 >= 0.5, DOCCTD (9-5)/9 = 0.44 >= 0.3 -> tentative
    seq = [*NORMAL, (25.0, 5.0), (28.0, 4.0), (30.0, 4.0), (12.0, 9.0), (10.0, 9.0)]
    assert run_ca8(seq) == [
        (3, "tentative", None),
        (4, "confirmed", None),  # OCCRDF 0.86 >= 0.5 the next interval
        (5, "confirmed", None),
        (6, "ended", "cleared"),  # OCCRDF 0.25 < 0.5
    ]


def test_california8_needs_all_three_tests() -> None:
    # DOCCTD too small: downstream did not drop
    assert run_ca8([*NORMAL, (25.0, 8.0), (28.0, 8.0)]) == []
    # OCCDF below 8 points
    assert run_ca8([(8.0, 6.0)] * 3 + [(7.0, 2.0), (7.0, 2.0)]) == []


def test_california8_tentative_not_confirmed() -> None:
    seq = [*NORMAL, (25.0, 5.0), (10.0, 8.0)]
    assert run_ca8(seq) == [(3, "tentative", None), (4, "ended", "not_confirmed")]


def test_compression_wave_suppresses_detection_for_five_intervals() -> None:
    # t=3: downstream 35% >= 30%; t=4: DOCCTD (9-20)/9 < -0.4: compression wave again, so
    # t=5..9 are blocked although t=5, t=6 and t=9 pass all three tests; t=10 trips.
    wave = [(20.0, 35.0), (20.0, 20.0)]
    rest = [(22.0, 9.0), (25.0, 8.0), (25.0, 8.0), (25.0, 8.0), (25.0, 5.0), (25.0, 5.0)]
    assert run_ca8([*NORMAL, *wave, *rest]) == [(10, "tentative", None)]
    # without the wave the same readings trip at t=6 (at t=5 DOCCTD (12-9)/12 is too small;
    # t=6: OCCDF 17, OCCRDF 0.68, DOCCTD (12-8)/12 = 0.33)
    calm = [(20.0, 12.0), (20.0, 12.0)]
    assert run_ca8([*NORMAL, *calm, *rest])[0] == (6, "tentative", None)
    # the suppression length is configurable
    short = dataclasses.replace(DEFAULT_INCIDENTS, suppression_intervals=4)
    machine = California8("p", short)
    seq = [*NORMAL, *wave, *rest]
    trips = [
        i
        for i, (up, down) in enumerate(seq)
        if machine.update(T0 + i, up, down, seq[i - 2][1] if i >= 2 else None) is not None
    ]
    assert trips[0] == 9


def test_fast_downstream_rise_is_a_compression_wave() -> None:
    # DOCCTD = (10 - 20) / 10 = -1 < -0.4 at t=3 cancels the tentative alarm of t=2... and
    # blocks the next five intervals
    seq = [(10.0, 10.0), (10.0, 10.0), (25.0, 5.0), (25.0, 20.0), (25.0, 5.0), (25.0, 5.0)]
    changes = run_ca8(seq)
    assert changes == [(2, "tentative", None), (3, "ended", "compression_wave")]


def test_missing_data_ends_a_confirmed_incident() -> None:
    machine = California8("p", DEFAULT_INCIDENTS)
    machine.update(T0, 10.0, 9.0, None)
    machine.update(T0 + 1, 10.0, 9.0, None)
    assert machine.update(T0 + 2, 25.0, 5.0, 9.0) is not None
    assert machine.update(T0 + 3, 25.0, 5.0, 9.0).state == "confirmed"  # type: ignore[union-attr]
    assert machine.update(T0 + 4, None, None, None) is None
    assert machine.update(T0 + 5, None, None, None) is None
    ended = machine.update(T0 + 6, None, None, None)
    assert ended is not None and ended.end_reason == "data_missing"


REPLACE = dataclasses.replace(DEFAULT_INCIDENTS, baseline_replaces_onset=True)


def run_persistence(
    seq: str, anomalous: bool | None = None, th: IncidentThresholds = DEFAULT_INCIDENTS
) -> list[tuple[int, str, str | None]]:
    """C = congested, F = free, . = in between, - = missing."""
    machine = Persistence("station_persistence", "s", th)
    out = []
    for i, ch in enumerate(seq):
        congested = None if ch == "-" else ch == "C"
        alarm = machine.update(T0 + i * 30 * NS, congested, ch == "F", anomalous)
        if alarm is not None:
            out.append((i, alarm.state, alarm.end_reason))
    return out


def test_single_station_rule_tentative_confirmed_ended() -> None:
    changes = run_persistence("FFFCCCCC.FF")
    assert changes[0] == (5, "tentative", None)  # 3 congested intervals after a free one
    assert (7, "confirmed", None) in changes  # 2 more
    assert changes[-1] == (10, "ended", "cleared")  # 2 free intervals in a row


def test_single_station_rule_ignores_gradual_congestion() -> None:
    assert run_persistence("FF....CCCCCCCC") == []  # no free interval shortly before onset
    # with a baseline, usual congestion does not alarm even with an abrupt onset ...
    assert run_persistence("FFCCCCCC", anomalous=False) == []
    assert run_persistence("FFCCCCCC", anomalous=True)[0] == (4, "tentative", None)
    # ... and (by default) unusual congestion still needs one
    assert run_persistence("FF....CCCCCCCC", anomalous=True) == []
    # unless the baseline verdict replaces the onset test
    assert run_persistence("FF....CCCCCCCC", anomalous=True, th=REPLACE)[0] == (
        8,
        "tentative",
        None,
    )


def test_single_station_short_congestion_is_not_confirmed() -> None:
    assert run_persistence("FFCCCF") == [(4, "tentative", None), (5, "ended", "not_confirmed")]


# --- the detector on samples -------------------------------------------------------------------


def step_samples(
    time_ns: int, occ: Mapping[str, float | None], speed: float | None = None, quality: str = "ok"
) -> list[DetectorSample]:
    return [
        DetectorSample(
            detector=d,
            time_ns=time_ns,
            interval_s=30,
            count=10 if o else 0,
            occupancy=o,
            speed_kmh=speed,
            quality=quality,
        )
        for d, o in occ.items()
    ]


def incident_sequence() -> list[list[DetectorSample]]:
    """Occupancy per step at a1/a1b (upstream), a2 (downstream) and the others."""
    base = {"a1": 0.10, "a1b": 0.10, "a2": 0.09, "b1": 0.09, "s1": 0.05}
    steps = [dict(base) for _ in range(3)]
    steps += [dict(base, a1=0.25, a1b=0.25, a2=0.05) for _ in range(4)]
    steps += [dict(base) for _ in range(3)]
    return [step_samples(T0 + i * 30 * NS, occ) for i, occ in enumerate(steps)]


def test_detector_finds_the_incident_between_a1_and_a2() -> None:
    det = IncidentDetector(corridor(), RAW)
    changes = [
        c
        for i, samples in enumerate(incident_sequence())
        for c in det.step(T0 + i * 30 * NS, samples)
    ]
    states = [(c.state, c.upstream_station, c.downstream_station) for c in changes]
    assert states[0] == ("tentative", "A@505", "A@1500")
    assert ("confirmed", "A@505", "A@1500") in states
    final = changes[-1]
    assert final.state == "ended" and final.end_reason == "cleared"
    assert final.method == "california8" and final.link == "A"
    assert final.start_ns == T0 + 3 * 30 * NS and final.confirmed_ns == T0 + 4 * 30 * NS
    assert final.detectors == ("a1", "a1b", "a2")
    assert final.lat == pytest.approx(1.0025 * DEG_PER_KM, rel=1e-3)
    assert final.occdf_pct == pytest.approx(1.0)  # the last interval: 10% vs 9%
    assert changes[0].occdf_pct == pytest.approx(20.0)  # 25% vs 5%
    assert changes[0].docctd == pytest.approx((9 - 5) / 9, abs=1e-3)
    assert det.active() == [] and [i.id for i in det.ended()] == [final.id]
    confirmed = [c for c in changes if c.state == "confirmed"]
    assert confirmed[0].confidence == pytest.approx(0.6)
    assert confirmed[-1].confidence > confirmed[0].confidence
    assert changes[0].confidence == pytest.approx(0.4)


def test_batch_function_gives_the_same_incident() -> None:
    samples = [s for step in incident_sequence() for s in step]
    incidents = detect_incidents(corridor(), samples, RAW)
    assert len(incidents) == 1
    assert incidents[0].state == "ended" and incidents[0].confirmed_ns == T0 + 4 * 30 * NS


def test_flagged_readings_do_not_feed_incident_detection() -> None:
    det = IncidentDetector(corridor(), RAW)
    changes = []
    for i, samples in enumerate(incident_sequence()):
        flagged = [
            s
            if s.detector != "a2" or i < 3
            else DetectorSample(
                detector="a2",
                time_ns=s.time_ns,
                interval_s=30,
                count=s.count,
                occupancy=s.occupancy,
                quality="stuck_by_gateway",
            )
            for s in samples
        ]
        changes += det.step(T0 + i * 30 * NS, flagged)
    assert changes == []  # without a2 the pair has no downstream value: nothing is inferred


def test_isolated_station_rule_on_samples() -> None:
    det = IncidentDetector(corridor(), RAW)
    occs = [0.05, 0.05, 0.40, 0.40, 0.40, 0.40, 0.40, 0.05, 0.05]
    changes = []
    for i, o in enumerate(occs):
        changes += det.step(T0 + i * 30 * NS, step_samples(T0 + i * 30 * NS, {"s1": o}))
    assert [(c.state, c.method, c.upstream_station) for c in changes][:1] == [
        ("tentative", "station_persistence", "SIDE@500")
    ]
    assert changes[-1].state == "ended" and changes[-1].confirmed_ns is not None
    assert changes[-1].confidence <= 0.8 * 0.95


def test_speed_only_pair_uses_pair_persistence() -> None:
    det = IncidentDetector(corridor(), RAW)
    changes = []
    for i in range(10):
        slow = 3 <= i < 8
        t = T0 + i * 300 * NS
        samples = [
            DetectorSample(detector=d, time_ns=t, interval_s=300, speed_kmh=v)
            for d, v in (("a2", 30.0 if slow else 95.0), ("b1", 95.0))
        ]
        changes += det.step(t, samples)
    methods = {(c.method, c.upstream_station, c.downstream_station) for c in changes}
    assert methods == {("pair_persistence", "A@1500", "B@500")}
    assert any(c.state == "confirmed" for c in changes)


def test_baseline_silences_recurrent_congestion() -> None:
    # the side road is congested every day at this time: the baseline knows it
    history = [
        DetectorSample(
            detector="s1",
            time_ns=T0 - d * 86400 * NS + i * 30 * NS,
            interval_s=30,
            count=10,
            occupancy=0.40,
        )
        for d in (1, 2, 3)
        for i in range(10)
    ]
    baseline = TimeOfDayBaseline.fit(history)
    typical_occ, typical_speed = baseline.typical("s1", T0)
    assert typical_occ == pytest.approx(0.40) and typical_speed is None
    occs = [0.05, 0.05, 0.40, 0.40, 0.40, 0.40, 0.40]
    quiet = IncidentDetector(corridor(), RAW, baseline=baseline)
    plain = IncidentDetector(corridor(), RAW)
    q, p = [], []
    for i, o in enumerate(occs):
        t = T0 + i * 30 * NS
        q += quiet.step(t, step_samples(t, {"s1": o}))
        p += plain.step(t, step_samples(t, {"s1": o}))
    assert q == [] and p != []


def test_smoothing_filters_a_one_interval_spike() -> None:
    base = {"a1": 0.10, "a1b": 0.10, "a2": 0.09, "b1": 0.09, "s1": 0.05}
    steps = [dict(base)] * 3 + [dict(base, a1=0.30, a1b=0.30, a2=0.04)] + [dict(base)] * 3
    seq = [step_samples(T0 + i * 30 * NS, occ) for i, occ in enumerate(steps)]
    raw_det = IncidentDetector(corridor(), RAW)
    raw = [c for i, st in enumerate(seq) for c in raw_det.step(T0 + i * 30 * NS, st)]
    assert [(c.state, c.end_reason) for c in raw] == [
        ("tentative", None),
        ("ended", "not_confirmed"),
    ]
    smooth = IncidentDetector(corridor())  # 150 s moving mean: the spike is a fifth as high
    assert [c for i, st in enumerate(seq) for c in smooth.step(T0 + i * 30 * NS, st)] == []


def test_road_classes_limit_the_watched_stations() -> None:
    freeway_only = dataclasses.replace(DEFAULT_INCIDENTS, road_classes=("freeway",))
    assert len(IncidentDetector(corridor(), freeway_only).stations) == 4
    urban_only = dataclasses.replace(DEFAULT_INCIDENTS, road_classes=("urban",))
    det = IncidentDetector(corridor(), urban_only)
    assert det.stations == [] and det.pairs == []
