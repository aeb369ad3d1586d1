"""The publisher side of the fault layer with fake publishers: raw sends, abort and revival,
held messages released on flush, the ground-truth file, and the synthetic runner with faults."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest

from citytraffic.messaging import payloads
from simulators.clock import ManualClock
from simulators.faults import (
    FaultInjector,
    FaultPlan,
    parse_faults,
    read_ground_truth,
)
from simulators.synthetic.city import CityConfig
from simulators.synthetic.run import run_synthetic

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


class FakePublisher:
    """Records what it is asked to do; `abort` like a gateway losing power."""

    instances: ClassVar[list[FakePublisher]] = []

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self.sent: list[payloads.Message | tuple[str, bytes]] = []
        self.aborted = False
        self.closed = False
        FakePublisher.instances.append(self)

    def publish(self, message: payloads.Message) -> None:
        assert not self.aborted and not self.closed
        self.sent.append(message)

    def publish_raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        assert not self.aborted and not self.closed
        self.sent.append((topic, payload))

    def flush(self, timeout_s: float = 30.0) -> bool:
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        self.closed = True
        return True

    def abort(self) -> int:
        self.aborted = True
        return 3


class PlainPublisher:
    def publish(self, message: payloads.Message) -> None: ...

    def flush(self, timeout_s: float = 30.0) -> bool:
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        return True


def batch(k: int, seq: int) -> payloads.DetectorBatch:
    return payloads.DetectorBatch(
        "gw-1",
        seq,
        "S1",
        T0 + timedelta(minutes=k + 1),
        60,
        [payloads.DetectorValue("S1:D1", 5, 0.05, 70.0)],
    )


def test_dead_gateway_aborts_and_comes_back_through_the_factory(tmp_path: Path) -> None:
    FakePublisher.instances = []
    gt = tmp_path / "gt.jsonl"
    plan = FaultPlan(parse_faults("dead:at=2m,for=2m;malformed:kind=json,at=5m"), gt)
    clock = ManualClock(T0 + timedelta(days=1))
    injector = FaultInjector(plan, T0, clock)
    pub = injector.wrap("gw-1", FakePublisher("gw-1"), FakePublisher)
    for k in range(6):
        pub.publish(batch(k, k))
    assert pub.close()
    injector.close()
    first, second = FakePublisher.instances
    assert first.aborted and not first.closed  # died: no clean close, no offline
    # batch k ends at k + 1 minutes: dead for the batches ending at 2 and 3 minutes
    assert [m.seq for m in first.sent] == [0]  # type: ignore[union-attr]
    assert second.closed
    assert second.sent[0] == batch(3, 3)
    assert isinstance(second.sent[1], tuple) and second.sent[1][0].endswith("/S1/detectors")
    records = read_ground_truth(gt)
    assert [r.fault for r in records] == ["dead", "malformed", "malformed"]  # ts 5 and 6 min
    assert records[0].seq == [1, 2] and records[0].detail["lost_unacked"] == 3
    assert records[0].injected_at == clock.now()
    assert records[1].detail["expected_reason"] == "malformed_json"


def test_open_ended_dead_gateway_is_recorded_at_close(tmp_path: Path) -> None:
    FakePublisher.instances = []
    plan = FaultPlan(parse_faults("dead:at=1m"), tmp_path / "gt.jsonl")
    injector = FaultInjector(plan, T0)
    pub = injector.wrap("gw-1", FakePublisher("gw-1"))
    for k in range(3):
        pub.publish(batch(k, k))
    assert pub.flush(1.0) and pub.close()
    injector.close()
    (record,) = read_ground_truth(tmp_path / "gt.jsonl")
    assert record.seq == [0, 1, 2] and record.detail["revived"] is False
    assert record.end == T0 + timedelta(minutes=3)


def test_flush_releases_held_messages() -> None:
    injector = FaultInjector(FaultPlan(parse_faults("reorder:delay=10")), T0)
    inner = FakePublisher("gw-1")
    pub = injector.wrap("gw-1", inner)
    pub.publish(batch(0, 0))
    assert inner.sent == []
    assert pub.flush()
    assert inner.sent == [batch(0, 0)]
    assert injector.ground_truth.written == 1 and len(injector.ground_truth.records) == 1


def test_wrap_refuses_a_publisher_that_cannot_do_what_the_plan_needs() -> None:
    injector = FaultInjector(
        FaultPlan(parse_faults("dead:gateway=gw-1;malformed:gateway=gw-2")), T0
    )
    with pytest.raises(TypeError, match="abort"):
        injector.wrap("gw-1", PlainPublisher())
    with pytest.raises(TypeError, match="publish_raw"):
        injector.wrap("gw-2", PlainPublisher())
    injector.wrap("gw-3", PlainPublisher())  # no fault for it: anything goes
    with pytest.raises(ValueError, match="timezone"):
        FaultInjector(FaultPlan(), datetime(2026, 1, 1))


def test_ground_truth_file_is_appended_line_by_line(tmp_path: Path) -> None:
    gt = tmp_path / "sub" / "gt.jsonl"
    for _ in range(2):
        injector = FaultInjector(FaultPlan(parse_faults("duplicate"), gt), T0)
        pub = injector.wrap("gw-1", FakePublisher("gw-1"))
        pub.publish(batch(0, 0))
        assert len(read_ground_truth(gt)) >= 1  # flushed before the run ends
        injector.close()
    assert len(read_ground_truth(gt)) == 2


def test_synthetic_runner_with_faults(tmp_path: Path) -> None:
    FakePublisher.instances = []
    config = replace(CityConfig(), rows=2, cols=2, freeway=False)
    gt = tmp_path / "gt.jsonl"
    plan = FaultPlan(
        parse_faults(
            "stuck:detector=J0-0:*,at=2m,for=3m;dead:gateway=gw-J1-1,at=3m,for=3m;"
            "skew:gateway=gw-J0-1,offset=2h,at=4m,for=1m;duplicate:site=J1-0,p=0.5"
        ),
        gt,
        seed=4,
    )
    clock = ManualClock(datetime(2026, 3, 2, 8, 0, 30, tzinfo=UTC))
    rc = run_synthetic(
        "127.0.0.1",
        1,
        seed=1,
        speedup=60.0,
        interval_s=60,
        duration_s=600.0,
        config=config,
        clock=clock,
        publisher_factory=FakePublisher,
        faults=plan,
    )
    assert rc == 0
    records = read_ground_truth(gt)
    kinds = {r.fault for r in records}
    assert kinds == {"stuck", "dead", "skew", "duplicate"}
    gws = [p.gateway for p in FakePublisher.instances]
    assert sorted(gws) == sorted(["gw-J0-0", "gw-J0-1", "gw-J1-0", "gw-J1-1", "gw-J1-1"])
    dead = next(r for r in records if r.fault == "dead")
    assert dead.gateway == "gw-J1-1" and dead.detail["revived"] is True and dead.seq
    old, new = [p for p in FakePublisher.instances if p.gateway == "gw-J1-1"]
    assert old.aborted and new.closed
    sent_seqs = {m.seq for p in (old, new) for m in p.sent if isinstance(m, payloads.DetectorBatch)}
    assert sent_seqs.isdisjoint(dead.seq)
    stuck: dict[str, list[object]] = {}
    for r in records:
        if r.fault == "stuck":
            assert r.detector is not None and r.detector.startswith("J0-0:")
            stuck.setdefault(r.detector, []).append(r.detail["sent"])
    assert stuck and all(len(v) == 3 and v[0] == v[1] == v[2] for v in stuck.values())
    skewed = [r for r in records if r.fault == "skew"]
    assert skewed
    for r in skewed:
        assert r.end is not None
        assert datetime.fromisoformat(r.detail["sent_ts"]) - r.end == timedelta(hours=2)
