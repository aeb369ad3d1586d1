"""The METR-LA runner with fake publishers and an injected clock: speed-only batches in km/h on the
5-minute grid, the time modes, nothing released before its time, faults, bad arguments."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citytraffic.messaging import payloads, topics
from citytraffic.network_file import load_network
from simulators.clock import ManualClock, floor_time
from simulators.faults import FaultPlan, parse_faults, read_ground_truth
from simulators.metrla.data import MPH_TO_KMH, load_metrla
from simulators.metrla.run import replay_rows, run_metrla

DATA = Path(__file__).parents[2].parent / "shared/data/metr-la"
NOW = datetime(2026, 3, 2, 7, 13, 27, tzinfo=UTC)


class FakePublisher:
    def __init__(self, gateway: str, clock: ManualClock, log: list[tuple[datetime, object]]):
        self.gateway, self.clock, self.log = gateway, clock, log
        self.closed = False

    def publish(self, message: payloads.Message) -> None:
        assert not self.closed
        self.log.append((self.clock.now(), message))

    def publish_raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.log.append((self.clock.now(), (topic, payload)))

    def flush(self, timeout_s: float = 30.0) -> bool:
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        self.closed = True
        return True


def _run(**kwargs: object) -> tuple[int, list[tuple[datetime, object]], ManualClock]:
    clock = ManualClock(NOW)
    sent: list[tuple[datetime, object]] = []
    pubs: list[FakePublisher] = []

    def factory(gw: str) -> FakePublisher:
        pubs.append(FakePublisher(gw, clock, sent))
        return pubs[-1]

    kwargs.setdefault("data_dir", DATA)
    rc = run_metrla("127.0.0.1", 1, clock=clock, publisher_factory=factory, **kwargs)  # type: ignore[arg-type]
    assert all(p.closed for p in pubs)
    return rc, sent, clock


def test_shift_mode_replays_speed_only_batches_ending_at_now(tmp_path: Path) -> None:
    rc, sent, clock = _run(speedup=600.0, duration_s=3 * 3600.0, network_out=tmp_path / "n.json")
    assert rc == 0
    data = load_metrla(DATA, max_rows=36)
    batches = [m for _, m in sent if isinstance(m, payloads.DetectorBatch)]
    assert len(batches) == 36 * 207
    net = load_network(tmp_path / "n.json")
    gateway_of = {s: gw.id for gw in net.gateways for s in gw.sites}
    column = {f"LA-{s.id}": k for k, s in enumerate(data.stations)}
    times = sorted({b.ts for b in batches})
    assert len(times) == 36
    assert all(b - a == timedelta(minutes=5) for a, b in itertools.pairwise(times))
    for wall, m in sent:
        assert isinstance(m, payloads.DetectorBatch)
        assert m.ts <= wall  # never in the future
        assert m.interval_s == 300 and m.gateway == gateway_of[m.site]
        (r,) = m.readings
        assert r.detector == f"{m.site}:D1" and r.count is None and r.occupancy is None
        k = times.index(m.ts)
        assert r.speed_kmh == data.speeds_mph[k][column[m.site]] * MPH_TO_KMH  # type: ignore[operator]
        raw = payloads.encode(m)
        assert b"count" not in raw and b"occupancy" not in raw
        assert payloads.decode(raw, "detectors", m.site) == m
        assert topics.site_topic(m.site, "detectors")
    assert times[-1] == floor_time(clock.now(), 300)  # ends at the last full 5 minutes
    for gw in net.gateways:  # per gateway: seq 0, 1, 2, ... in publishing order
        seqs = [m.seq for _, m in sent if m.gateway == gw.id]  # type: ignore[attr-defined]
        assert seqs == list(range(len(seqs)))


def test_original_mode_keeps_the_2012_times_in_utc() -> None:
    rc, sent, clock = _run(mode="original", speedup=1e6, duration_s=3600.0)
    assert rc == 0
    times = sorted({m.ts for _, m in sent})  # type: ignore[attr-defined]
    assert times[0] == datetime(2012, 3, 1, 8, 0, tzinfo=UTC)  # 00:00 PST
    assert times[-1] == datetime(2012, 3, 1, 8, 55, tzinfo=UTC)
    assert len(sent) == 12 * 207
    assert clock.slept_s == pytest.approx(3600 / 1e6, abs=0.01)  # paced, not waiting for 2012


def test_faults_apply_to_the_replay(tmp_path: Path) -> None:
    gt = tmp_path / "gt.jsonl"
    plan = FaultPlan(
        parse_faults(
            "stuck:detector=LA-773869:D1,at=30m,for=30m;malformed:site=LA-767541,kind=json"
        ),
        gt,
    )
    rc, sent, _ = _run(speedup=3600.0, duration_s=7200.0, faults=plan)
    assert rc == 0
    records = read_ground_truth(gt)
    stuck = [r for r in records if r.fault == "stuck"]
    assert len(stuck) == 6 and len({str(r.detail["sent"]) for r in stuck}) == 1
    malformed = [r for r in records if r.fault == "malformed"]
    assert len(malformed) == 24 and all(r.site == "LA-767541" for r in malformed)
    raws = [m for _, m in sent if isinstance(m, tuple)]
    assert len(raws) == 24


@pytest.mark.parametrize(
    "kwargs",
    [
        {"speedup": 0.0},
        {"speedup": float("nan")},
        {"mode": "replay"},
        {"duration_s": 60.0},
        {"data_dir": Path("/nonexistent/metr-la")},
        {"per_gateway": 0},
    ],
)
def test_bad_arguments_return_2(kwargs: dict[str, object]) -> None:
    rc, sent, _ = _run(**kwargs)
    assert rc == 2 and sent == []


def test_replay_rows() -> None:
    assert replay_rows(None) is None
    assert replay_rows(None, 2016) == 2016
    assert replay_rows(3 * 3600.0) == 36
    assert replay_rows(599.0) == 1
    assert replay_rows(1e9, 2016) == 2016
    with pytest.raises(ValueError, match="one row"):
        replay_rows(299.0)
