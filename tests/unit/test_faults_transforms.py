"""Each fault transform on its own: seeded and deterministic, and every injected fault recorded
in the ground truth with type, place, source-time window, parameters and seq."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from citytraffic.domain.errors import PayloadError
from citytraffic.messaging import payloads, topics
from simulators.faults import FaultPlan, GatewayFaults, RawSend, parse_faults
from simulators.faults.groundtruth import FaultRecord, summarize

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
GW = "gw-1"
SITES = ("S1", "S2")


def batch(k: int, site: str, seq: int, speed: float = 80.0) -> payloads.DetectorBatch:
    """The batch of interval k (ending at T0 + (k + 1) minutes), two detectors."""
    return payloads.DetectorBatch(
        GW,
        seq,
        site,
        T0 + timedelta(minutes=k + 1),
        60,
        [
            payloads.DetectorValue(f"{site}:D1", 10 + k, 0.1, speed + k),
            payloads.DetectorValue(f"{site}:D2", 20 + k, 0.2, speed - k),
        ],
    )


def stream(n: int) -> list[payloads.DetectorBatch]:
    return [batch(k, site, 2 * k + i) for k in range(n) for i, site in enumerate(SITES)]


def run(
    spec: str, messages: list[payloads.DetectorBatch], seed: int = 1
) -> tuple[list[payloads.Message | RawSend], list[FaultRecord], GatewayFaults]:
    gf = GatewayFaults(FaultPlan(parse_faults(spec), seed=seed), GW, T0)
    sends: list[payloads.Message | RawSend] = []
    records: list[FaultRecord] = []
    for m in messages:
        step = gf.process(m)
        assert not step.revive
        sends.extend(step.sends)
        records.extend(step.records)
    sends.extend(gf.drain())
    records.extend(gf.finish())
    return sends, records, gf


def test_no_fault_in_window_passes_everything_untouched() -> None:
    msgs = stream(5)
    sends, records, _ = run("stuck:at=1h;dropout:site=OTHER;skew:gateway=gw-9,offset=1h", msgs)
    assert sends == msgs and records == []


def test_stuck_repeats_the_last_reading_before_the_window() -> None:
    sends, records, _ = run("stuck:detector=S1:D1,at=3m,for=3m", stream(8))
    d1 = [
        (m.ts, m.readings[0])
        for m in sends
        if isinstance(m, payloads.DetectorBatch) and m.site == "S1"
    ]
    before = d1[1][1]  # interval k=1 ends at T0+2m, the last one before the window [3m, 6m)
    stuck = [r for ts, r in d1 if T0 + timedelta(minutes=3) <= ts < T0 + timedelta(minutes=6)]
    assert len(stuck) == 3 and all(r == before for r in stuck)
    assert d1[6][1].count == 16  # after the window: live again
    assert [r.detector for r in records] == ["S1:D1"] * 3
    assert [r.seq for r in records] == [[4], [6], [8]]
    r = records[0]
    assert (r.fault, r.fault_id, r.gateway, r.site) == ("stuck", "f0", GW, "S1")
    assert (r.start, r.end) == (T0 + timedelta(minutes=2), T0 + timedelta(minutes=3))
    assert r.detail["original"] == {"count": 12, "occupancy": 0.1, "speed_kmh": 82.0}
    assert r.detail["sent"] == {"count": 11, "occupancy": 0.1, "speed_kmh": 81.0}
    assert r.params["at_s"] == 180.0 and r.params["for_s"] == 180.0


def test_dropout_removes_readings_and_empty_batches() -> None:
    sends, records, _ = run("dropout:detector=S1:D2,for=2m;dropout:site=S2,at=3m,for=1m", stream(5))
    s1 = [m for m in sends if isinstance(m, payloads.DetectorBatch) and m.site == "S1"]
    assert [len(m.readings) for m in s1] == [1, 2, 2, 2, 2]  # only interval 0 ends inside [0, 2m)
    s2_seqs = [m.seq for m in sends if isinstance(m, payloads.DetectorBatch) and m.site == "S2"]
    assert s2_seqs == [1, 3, 7, 9]  # the batch ending at 3m is gone, its seq stays used (gap)
    assert {(r.fault_id, r.detector, r.seq[0]) for r in records} == {
        ("f0", "S1:D2", 0),
        ("f1", "S2:D1", 5),
        ("f1", "S2:D2", 5),
    }
    assert all(r.detail["sent"] is None for r in records)


def test_noise_is_seeded_bounded_and_recorded() -> None:
    msgs = stream(20)
    a, rec_a, _ = run("noise:sd=0.3", msgs, seed=5)
    b, rec_b, _ = run("noise:sd=0.3", msgs, seed=5)
    c, _, _ = run("noise:sd=0.3", msgs, seed=6)
    assert a == b and rec_a == rec_b and a != c
    assert len(rec_a) == 80
    changed = 0
    for sent, orig in zip(a, msgs, strict=True):
        assert isinstance(sent, payloads.DetectorBatch)
        for r, o in zip(sent.readings, orig.readings, strict=True):
            assert r.count is not None and r.count >= 0
            assert r.occupancy is not None and 0.0 <= r.occupancy <= 1.0
            assert r.speed_kmh is not None and r.speed_kmh >= 0.0
            changed += r.speed_kmh != o.speed_kmh
    assert changed == 80
    first = rec_a[0]
    assert first.detail["sent"]["speed_kmh"] == a[0].readings[0].speed_kmh  # type: ignore[union-attr]


def test_share_picks_a_seeded_subset_of_detectors() -> None:
    msgs = [batch(0, f"S{i}", i) for i in range(200)]
    _, records, _ = run("dropout:share=0.25", msgs, seed=3)
    hit = {r.detector for r in records}
    assert 60 <= len(hit) <= 140  # 400 detectors, a quarter picked (seeded, not exact)
    _, again, _ = run("dropout:share=0.25", msgs, seed=3)
    assert {r.detector for r in again} == hit


def test_probability_is_keyed_not_order_dependent() -> None:
    msgs = stream(30)
    _, forward, _ = run("duplicate:p=0.3", msgs, seed=9)
    gf = GatewayFaults(FaultPlan(parse_faults("duplicate:p=0.3"), seed=9), GW, T0)
    backward = [r for m in reversed(msgs) for r in gf.process(m).records]
    assert {r.seq[0] for r in forward} == {r.seq[0] for r in backward}
    assert 5 <= len(forward) <= 35


def test_duplicate_sends_the_same_message_again() -> None:
    msgs = stream(2)
    sends, records, _ = run("duplicate:site=S2,copies=2", msgs)
    assert sends == [msgs[0], msgs[1], msgs[1], msgs[1], msgs[2], msgs[3], msgs[3], msgs[3]]
    assert [(r.site, r.seq, r.detail) for r in records] == [
        ("S2", [1], {"copies": 2}),
        ("S2", [3], {"copies": 2}),
    ]
    assert records[0].detector is None


def test_reorder_lets_later_messages_overtake() -> None:
    msgs = stream(3)  # seq 0..5
    sends, records, _ = run("reorder:site=S1,delay=2,for=2m", msgs)
    assert [m.seq for m in sends] == [1, 2, 0, 3, 4, 5]  # type: ignore[union-attr]
    assert [(r.seq, r.detail) for r in records] == [([0], {"delay": 2})]
    sends, _, _ = run("reorder:site=S2,delay=5,at=2m", stream(3))
    # S2's batches from 2m on (seq 3 and 5) are held; fewer than 5 follow: sent at the end
    assert [m.seq for m in sends] == [0, 1, 2, 4, 3, 5]  # type: ignore[union-attr]


def test_skew_shifts_source_time_and_records_both_times() -> None:
    msgs = stream(3)
    sends, records, _ = run("skew:site=S1,offset=2h,at=2m", msgs)
    shifted = {m.seq: m.ts for m in sends if isinstance(m, payloads.DetectorBatch)}
    assert shifted[0] == msgs[0].ts
    assert shifted[2] == msgs[2].ts + timedelta(hours=2)
    assert shifted[3] == msgs[3].ts
    assert [r.seq for r in records] == [[2], [4]]
    assert records[0].end == msgs[2].ts  # the true time is recorded
    assert records[0].detail["sent_ts"] == msgs[2].ts + timedelta(hours=2)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("json", "malformed_json"),
        ("schema", "schema"),
        ("nan", "malformed_json"),
        ("oversized", "oversized"),
    ],
)
def test_malformed_payloads_are_refused_by_the_decoder(kind: str, reason: str) -> None:
    msgs = stream(3)
    sends, records, _ = run(f"malformed:kind={kind},site=S1", msgs)
    raws = [s for s in sends if isinstance(s, RawSend)]
    assert len(raws) == 3 and len(records) == 3
    for raw, rec in zip(raws, records, strict=True):
        assert raw.topic == topics.site_topic("S1", "detectors")
        with pytest.raises(PayloadError) as info:
            payloads.decode(raw.payload, "detectors", "S1")
        assert info.value.reason == reason == rec.detail["expected_reason"]
        assert rec.detail["kind"] == kind and rec.detail["bytes"] == len(raw.payload)
    if kind == "nan":
        assert b"NaN" in raws[0].payload
        assert math.isnan(json.loads(raws[0].payload)["readings"][0]["speed_kmh"])
    if kind == "schema":
        assert {r.detail["variant"] for r in records} == {
            "missing_ts",
            "unknown_field",
            "bad_interval",
        }


def test_malformed_kinds_are_used_in_turn_and_signals_too() -> None:
    signal = payloads.SignalState(GW, 9, "S1", T0 + timedelta(seconds=5), "P1", "NS", "GGrr", 3.0)
    gf = GatewayFaults(FaultPlan(parse_faults("malformed")), GW, T0)
    kinds: list[str] = []
    messages: list[payloads.DetectorBatch | payloads.SignalState] = [signal, *stream(2)]
    for m in messages:
        step = gf.process(m)
        (raw,) = step.sends
        assert isinstance(raw, RawSend)
        kind = payloads.TOPIC_KIND[type(m)]
        with pytest.raises(PayloadError):
            payloads.decode(raw.payload, kind, m.site)
        kinds.extend(r.detail["kind"] for r in step.records)
    assert kinds == ["json", "schema", "nan", "oversized", "json"]


def test_status_messages_pass_untouched() -> None:
    status = payloads.GatewayStatus(GW, "online", T0)
    gf = GatewayFaults(FaultPlan(parse_faults("malformed;duplicate;skew:offset=1h")), GW, T0)
    step = gf.process(status)
    assert step.sends == [status] and step.records == []


def test_dead_gateway_kills_suppresses_and_revives() -> None:
    gf = GatewayFaults(FaultPlan(parse_faults("dead:gateway=gw-*,at=2m,for=2m")), GW, T0)
    out = [gf.process(m) for m in stream(6)]
    assert [s.kill for s in out].index(True) == 2  # first message at/after T0+2m: seq 2
    assert sum(s.kill for s in out) == 1 and sum(s.revive for s in out) == 1
    sent = [m.seq for s in out for m in s.sends]  # type: ignore[union-attr]
    assert sent == [0, 1, 6, 7, 8, 9, 10, 11]
    (record,) = [r for s in out for r in s.records]
    assert record.fault == "dead" and record.site is None and record.seq == [2, 3, 4, 5]
    assert (record.start, record.end) == (T0 + timedelta(minutes=2), T0 + timedelta(minutes=4))
    assert record.detail == {"suppressed": 4, "revived": True, "lost_unacked": None}
    assert out[6].revive


def test_dead_gateway_open_ended_closes_at_finish() -> None:
    gf = GatewayFaults(FaultPlan(parse_faults("dead:at=3m")), GW, T0)
    for m in stream(5):
        gf.process(m)
    gf.note_lost_unacked(7)
    (record,) = gf.finish()
    assert record.seq == [4, 5, 6, 7, 8, 9] and record.detail["revived"] is False
    assert record.end == T0 + timedelta(minutes=5) and record.detail["lost_unacked"] == 7
    assert gf.finish() == []


def test_dead_selects_gateways_only() -> None:
    gf = GatewayFaults(FaultPlan(parse_faults("dead:gateway=gw-2")), GW, T0)
    assert not gf.has_dead_faults
    assert all(gf.process(m).sends == [m] for m in stream(2))


def test_faults_compose_in_the_documented_order() -> None:
    msgs = stream(1)
    sends, records, _ = run("noise:sd=0.1;skew:offset=1h;duplicate", msgs)
    assert len(sends) == 4
    assert sends[0] == sends[1] and sends[0] != msgs[0]
    assert sends[0].ts == msgs[0].ts + timedelta(hours=1)  # type: ignore[union-attr]
    assert sorted(r.fault for r in records) == ["duplicate"] * 2 + ["noise"] * 4 + ["skew"] * 2


def test_summary_merges_records_per_place() -> None:
    _, records, _ = run("stuck:detector=S1:D1,at=3m,for=3m;dead:at=7m", stream(9))
    windows = summarize(records)
    assert [(w.fault, w.detector, w.events) for w in windows] == [
        ("stuck", "S1:D1", 3),
        ("dead", None, 1),
    ]
    assert windows[0].start == T0 + timedelta(minutes=2)
    assert windows[0].end == T0 + timedelta(minutes=5)  # readings ending at 3, 4 and 5 min
    assert windows[1].seq == [12, 13, 14, 15, 16, 17]  # from the batch ending at 7 min


def test_noise_has_the_requested_relative_spread() -> None:
    msgs = [batch(k % 50, f"S{k}", k, speed=500.0) for k in range(1000)]
    sends, _, _ = run("noise:sd=0.1", msgs, seed=2)
    ratios = [
        s.readings[0].speed_kmh / m.readings[0].speed_kmh  # type: ignore[union-attr,operator]
        for s, m in zip(sends, msgs, strict=True)
    ]
    mean = sum(ratios) / len(ratios)
    sd = (sum((r - mean) ** 2 for r in ratios) / (len(ratios) - 1)) ** 0.5
    assert abs(mean - 1.0) < 0.01 and 0.09 < sd < 0.11


def test_single_readings_get_reading_faults_too() -> None:
    def reading(k: int) -> payloads.SingleReading:
        ts = T0 + timedelta(minutes=k + 1)
        return payloads.SingleReading(GW, k, "S1", ts, 60, "S1:D1", k, 0.1, 50.0 + k)

    gf = GatewayFaults(FaultPlan(parse_faults("stuck:at=2m,for=2m;dropout:at=5m")), GW, T0)
    sent = [s for k in range(5) for s in gf.process(reading(k)).sends]
    assert [(m.seq, m.speed_kmh) for m in sent] == [  # type: ignore[union-attr]
        (0, 50.0),
        (1, 50.0),  # stuck on the reading before the window (interval 0)
        (2, 50.0),
        (3, 53.0),
    ]
