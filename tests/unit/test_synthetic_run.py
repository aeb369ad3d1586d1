"""The synthetic runner with fake publishers and an injected clock: message contract, sequence
numbers, clock policy, network file, incidents given on the command line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from citytraffic.messaging import payloads, topics
from citytraffic.network_file import load_network
from simulators.clock import ManualClock
from simulators.synthetic.city import CityConfig, build_city
from simulators.synthetic.run import IncidentSpec, parse_incident, run_synthetic

NOW = datetime(2026, 3, 2, 7, 15, 12, tzinfo=UTC)
SMALL = CityConfig(rows=2, cols=3, freeway=True)


class FakePublisher:
    def __init__(self, gateway: str, clock: ManualClock, log: list[tuple[datetime, object]]):
        self.gateway = gateway
        self.clock = clock
        self.log = log
        self.closed = False

    def publish(self, message: payloads.Message) -> None:
        assert not self.closed
        self.log.append((self.clock.now(), message))

    def flush(self, timeout_s: float = 30.0) -> bool:
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        self.closed = True
        return True


def _run(
    tmp_path: Path, **kwargs: object
) -> tuple[int, list[tuple[datetime, object]], ManualClock]:
    clock = ManualClock(NOW)
    sent: list[tuple[datetime, object]] = []
    pubs: list[FakePublisher] = []

    def factory(gw: str) -> FakePublisher:
        pubs.append(FakePublisher(gw, clock, sent))
        return pubs[-1]

    rc = run_synthetic(
        "127.0.0.1",
        1,
        clock=clock,
        publisher_factory=factory,
        config=SMALL,
        **kwargs,  # type: ignore[arg-type]
    )
    assert all(p.closed for p in pubs)
    return rc, sent, clock


def test_runner_publishes_batches_and_signals_in_the_contract(tmp_path: Path) -> None:
    rc, sent, clock = _run(tmp_path, seed=3, speedup=60.0, interval_s=60, duration_s=600.0)
    assert rc == 0
    city = build_city(SMALL)
    batches = [m for _, m in sent if isinstance(m, payloads.DetectorBatch)]
    signals = [m for _, m in sent if isinstance(m, payloads.SignalState)]
    assert len(batches) == 10 * len(city.network.sites)
    # every junction: the state at start plus 6 changes per 90 s cycle over 600 s (~40)
    per_junction = {s.id: 0 for s in city.network.sites if s.id.startswith("J")}
    for m in signals:
        per_junction[m.site] += 1
    assert all(35 <= n <= 48 for n in per_junction.values())
    for _, msg in sent:
        assert isinstance(msg, (payloads.DetectorBatch, payloads.SignalState))
        raw = payloads.encode(msg)
        parsed = topics.parse_topic(topics.site_topic(msg.site, payloads.TOPIC_KIND[type(msg)]))
        assert parsed is not None
        assert payloads.decode(raw, parsed.kind, parsed.key) == msg
        assert msg.gateway == f"gw-{msg.site}"
    # sequence numbers: per gateway 0, 1, 2, ... without gaps
    by_gw: dict[str, list[int]] = {}
    for _, msg in sent:
        assert isinstance(msg, (payloads.DetectorBatch, payloads.SignalState))
        by_gw.setdefault(msg.gateway, []).append(msg.seq)
    assert all(seqs == list(range(len(seqs))) for seqs in by_gw.values())
    # clock policy: nothing stamped after the moment it was published; ts = end of interval
    for published_at, msg in sent:
        assert isinstance(msg, (payloads.DetectorBatch, payloads.SignalState))
        assert msg.ts <= published_at
    first_ts = min(b.ts for b in batches)
    assert first_ts.second == 0 and first_ts < NOW
    assert max(b.ts for b in batches) <= clock.now()
    # sped up 60x from the past: 600 simulated seconds took about 10 wall seconds
    assert clock.slept_s == pytest.approx(600 / 60, abs=1.0)


def test_runner_is_reproducible(tmp_path: Path) -> None:
    start = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    _, a, _ = _run(tmp_path, seed=9, speedup=1000.0, interval_s=60, duration_s=300.0, start=start)
    _, b, _ = _run(tmp_path, seed=9, speedup=1000.0, interval_s=60, duration_s=300.0, start=start)
    assert [payloads.encode(m) for _, m in a] == [payloads.encode(m) for _, m in b]  # type: ignore[arg-type]


def test_runner_writes_the_network_file(tmp_path: Path) -> None:
    out = tmp_path / "net" / "city.geojson"
    rc, _, _ = _run(
        tmp_path, seed=1, speedup=100.0, interval_s=60, duration_s=60.0, network_out=out
    )
    assert rc == 0
    loaded = load_network(out)
    assert sorted(d.id for d in loaded.detectors) == sorted(
        d.id for d in build_city(SMALL).network.detectors
    )


def test_runner_refuses_bad_arguments(tmp_path: Path) -> None:
    assert _run(tmp_path, start=datetime(2026, 1, 1), duration_s=60.0)[0] == 2  # naive
    assert _run(tmp_path, speedup=0.0, duration_s=60.0)[0] == 2
    assert _run(tmp_path, interval_s=0, duration_s=60.0)[0] == 2
    assert _run(tmp_path, duration_s=60.0, incidents=[IncidentSpec("nope", 0, 60)])[0] == 2


def test_incident_from_the_command_line_reaches_the_model(tmp_path: Path) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    kwargs = {"seed": 2, "speedup": 1000.0, "interval_s": 60, "duration_s": 1800.0, "start": start}
    _, calm, _ = _run(tmp_path, **kwargs)
    _, hit, _ = _run(tmp_path, incidents=[parse_incident("J0-1_J0-2,0,1800,0.05")], **kwargs)

    def occ(sent: list[tuple[datetime, object]]) -> float:
        last = [m for _, m in sent if isinstance(m, payloads.DetectorBatch) and m.site == "J0-2"][
            -1
        ]
        west = [r.occupancy or 0.0 for r in last.readings if ":W" in r.detector]
        return sum(west) / len(west)

    assert occ(hit) > 0.5 > occ(calm)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("J1-1_J1-2,600,900", IncidentSpec("J1-1_J1-2", 600.0, 900.0, 0.3)),
        (" L , 0 , 60 , 0.5 ", IncidentSpec("L", 0.0, 60.0, 0.5)),
    ],
)
def test_parse_incident(spec: str, expected: IncidentSpec) -> None:
    assert parse_incident(spec) == expected
    assert expected.at(NOW).start == NOW + timedelta(seconds=expected.offset_s)


@pytest.mark.parametrize(
    "spec", ["", "L", "L,1", "L,x,60", "L,0,0", "L,-1,60", "L,0,60,1.5", ",0,6"]
)
def test_parse_incident_refuses_bad_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="incident"):
        parse_incident(spec)


def test_history_starts_the_run_that_far_back(tmp_path: Path) -> None:
    _, sent, _ = _run(
        tmp_path, seed=1, speedup=100.0, interval_s=60, duration_s=120.0, history_s=3600.0
    )
    first = min(m.ts for _, m in sent if isinstance(m, payloads.DetectorBatch))
    assert first == datetime(2026, 3, 2, 6, 16, tzinfo=UTC)  # floor(NOW - 1 h) + one interval


def test_unacknowledged_messages_give_exit_code_1(tmp_path: Path) -> None:
    clock = ManualClock(NOW)

    class Unacked(FakePublisher):
        def flush(self, timeout_s: float = 30.0) -> bool:
            return False

        def close(self, timeout_s: float = 10.0) -> bool:
            self.closed = True
            return False

    rc = run_synthetic(
        "127.0.0.1",
        1,
        clock=clock,
        publisher_factory=lambda gw: Unacked(gw, clock, []),
        config=SMALL,
        duration_s=60.0,
        speedup=100.0,
        flush_timeout_s=0.5,
    )
    assert rc == 1
