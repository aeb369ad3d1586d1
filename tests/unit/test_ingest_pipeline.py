"""The ingest pipeline against fake stores: ack only after durable, spool, bisect, dead letters."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from citytraffic.messaging import payloads
from citytraffic.messaging.client import Received
from citytraffic.settings import IngestSettings
from citytraffic.storage.lineprotocol import LineEncoder
from citytraffic.storage.points import Point
from citytraffic.storage.port import PointsRejected, StoreUnavailable
from ingest.deadletter import JsonlLog
from ingest.metrics import IngestMetrics
from ingest.pipeline import Pipeline
from ingest.spool import Spool

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW_NS = int(NOW.timestamp()) * 10**9


class PointStore:
    """A Store fake that keeps lines; refuses any batch holding a detector named BAD*."""

    def __init__(self) -> None:
        self.lines: dict[str, str] = {}  # identity (series + time) -> line
        self.down = False
        self.writes = 0

    def _take(self, lines: list[str]) -> None:
        self.writes += 1
        if self.down:
            raise StoreUnavailable("connection refused")
        bad = [ln for ln in lines if "detector=BAD" in ln]
        if bad:
            raise PointsRejected(f"field type conflict in {bad[0][:30]}")
        for ln in lines:
            series, _fields, t = ln.rsplit(" ", 2)
            self.lines[f"{series} {t}"] = ln

    def write(self, points: Sequence[Point]) -> None:
        self._take([LineEncoder().line(p) for p in points])

    def close(self) -> None:
        pass


class LineStore(PointStore):
    def write_lines(self, body: bytes) -> None:
        self._take(body.decode().split("\n"))


def batch_payload(seq: int, site: str = "J1", ts: datetime = NOW, bad: bool = False) -> bytes:
    det = "BAD1" if bad else "D1"
    return payloads.encode(
        payloads.DetectorBatch(
            "gw1",
            seq,
            site,
            ts,
            30,
            [payloads.DetectorValue(det, count=seq), payloads.DetectorValue("D2", count=1)],
        )
    )


def received(payload: bytes, mid: int, topic: str = "traffic/v1/site/J1/detectors") -> Received:
    return Received(topic, payload, 1, mid, False, False, 1)


class Harness:
    def __init__(self, tmp_path: Path, store: PointStore, **cfg: object) -> None:
        self.acked: list[int] = []
        self.store = store
        self.dead = JsonlLog(tmp_path / "dead.jsonl")
        self.quarantine = JsonlLog(tmp_path / "quarantine.jsonl")
        self.metrics = IngestMetrics()
        self.pipeline = Pipeline(
            store,  # type: ignore[arg-type]
            IngestSettings(**cfg),  # type: ignore[arg-type]
            Spool(tmp_path / "spool"),
            self.dead,
            self.quarantine,
            self.metrics,
            self.ack,
            clock_ns=lambda: NOW_NS,
        )

    def ack(self, messages: Sequence[Received]) -> int:
        self.acked.extend(m.mid for m in messages)
        return 0


@pytest.mark.parametrize("store_cls", [PointStore, LineStore])
def test_acks_in_order_after_the_write(tmp_path: Path, store_cls: type[PointStore]) -> None:
    h = Harness(tmp_path, store_cls())
    for i in range(5):
        h.pipeline.handle(received(batch_payload(i), mid=100 + i))
    assert h.acked == [] and h.store.lines == {}
    h.pipeline.commit()
    assert h.acked == [100, 101, 102, 103, 104]
    assert len(h.store.lines) == 2  # same identities: each seq overwrote D1/D2 at NOW
    assert h.store.writes == 1
    assert h.pipeline.uses_lines == (store_cls is LineStore)


@pytest.mark.parametrize("store_cls", [PointStore, LineStore])
def test_store_down_spools_then_acks_and_drains(
    tmp_path: Path, store_cls: type[PointStore]
) -> None:
    store = store_cls()
    store.down = True
    h = Harness(tmp_path, store, store_retry_s=0.1)
    h.pipeline.handle(received(batch_payload(1, ts=NOW), 1))
    h.pipeline.handle(received(batch_payload(2, ts=NOW - timedelta(seconds=30)), 2))
    h.pipeline.commit()
    assert h.acked == [1, 2]  # acked because the spool segment is fsync'd
    assert h.pipeline.spool.depth == 1 and h.pipeline.store_down
    assert h.metrics.store_up._value.get() == 0
    writes = store.writes
    h.pipeline.handle(received(batch_payload(3, ts=NOW - timedelta(seconds=60)), 3))
    h.pipeline.commit()  # within store_retry_s: straight to the spool, no write attempt
    assert store.writes == writes and h.pipeline.spool.depth == 2 and h.acked == [1, 2, 3]
    assert not h.pipeline.drain_one()  # not due yet
    time.sleep(0.11)
    assert not h.pipeline.drain_one()  # due, tried, still down
    assert store.writes == writes + 1 and h.pipeline.spool.depth == 2
    store.down = False
    time.sleep(0.11)
    assert h.pipeline.drain_one() and h.pipeline.drain_one()
    assert h.pipeline.spool.depth == 0 and not h.pipeline.store_down
    assert h.metrics.store_up._value.get() == 1
    assert len(store.lines) == 6


def test_spooled_segments_survive_a_restart(tmp_path: Path) -> None:
    store = LineStore()
    store.down = True
    h = Harness(tmp_path, store)
    h.pipeline.handle(received(batch_payload(1), 1))
    h.pipeline.commit()
    store.down = False
    h2 = Harness(tmp_path, store)  # a new process finds the segment
    assert h2.pipeline.spool.depth == 1
    assert h2.pipeline.drain_one()
    assert len(store.lines) == 2


@pytest.mark.parametrize("store_cls", [PointStore, LineStore])
def test_rejected_points_are_isolated_by_bisection(
    tmp_path: Path, store_cls: type[PointStore]
) -> None:
    h = Harness(tmp_path, store_cls())
    for i in range(9):
        h.pipeline.handle(
            received(
                batch_payload(i, site=f"S{i}", bad=(i == 4)),
                i,
                topic=f"traffic/v1/site/S{i}/detectors",
            )
        )
    h.pipeline.commit()
    assert h.acked == list(range(9))
    assert len(h.store.lines) == 17  # 18 points, one refused
    (dead,) = h.dead.read()
    assert dead["reason"] == "rejected_by_store"
    assert dead["topic"] == "traffic/v1/site/S4/detectors"
    assert "field type conflict" in str(dead["detail"])
    assert "BAD1" in str(dead["payload"])
    assert h.metrics.readings._value.get() == 17


def test_bad_payloads_are_dead_lettered_and_acked_in_order(tmp_path: Path) -> None:
    h = Harness(tmp_path, LineStore())
    h.pipeline.handle(received(batch_payload(1), 1))
    h.pipeline.handle(received(b"{not json", 2))
    h.pipeline.handle(received(b'{"schema":"traffic.detectors/1"}', 3))
    h.pipeline.handle(received(batch_payload(2, site="J2"), 4))  # topic names J1
    h.pipeline.handle(received(batch_payload(3), 5, topic="traffic/v2/whatever"))
    h.pipeline.handle(
        received(batch_payload(4, site="J9"), 6, topic="traffic/v1/site/J9/detectors")
    )
    h.pipeline.commit()
    assert h.acked == [1, 2, 3, 4, 5, 6]
    reasons = [d["reason"] for d in h.dead.read()]
    assert reasons == ["malformed_json", "schema", "topic_mismatch", "unknown_topic"]
    assert len(h.store.lines) == 4
    samples = {
        s.labels["reason"]: s.value
        for m in h.metrics.dead_letters.collect()
        for s in m.samples
        if s.name.endswith("_total")
    }
    assert samples == {"malformed_json": 1, "schema": 1, "topic_mismatch": 1, "unknown_topic": 1}


def test_future_readings_are_quarantined_never_stored(tmp_path: Path) -> None:
    h = Harness(tmp_path, LineStore(), future_tolerance_s=120)
    h.pipeline.handle(received(batch_payload(1, ts=NOW + timedelta(seconds=60)), 1))
    h.pipeline.handle(received(batch_payload(2, ts=NOW + timedelta(hours=1)), 2))
    h.pipeline.commit()
    assert h.acked == [1, 2]
    (q,) = h.quarantine.read()
    assert q["reason"] == "future" and "3600.0 s ahead" in str(q["detail"])
    assert msgspec.json.decode(str(q["payload"]).encode())["seq"] == 2
    assert len(h.store.lines) == 2
    assert h.metrics.quarantined._value.get() == 1


def test_retained_status_without_time_is_acked_not_stored(tmp_path: Path) -> None:
    h = Harness(tmp_path, LineStore())
    will = payloads.encode(payloads.GatewayStatus("gw1", "offline"))
    topic = "traffic/v1/gateway/gw1/status"
    h.pipeline.handle(Received(topic, will, 1, 1, False, True, 1))
    h.pipeline.handle(Received(topic, will, 1, 2, False, False, 1))
    h.pipeline.commit()
    assert h.acked == [1, 2]
    (line,) = h.store.lines.values()
    assert line.startswith('gateway_status,gateway=gw1 status="offline",online=false')


def test_due_by_size_and_time(tmp_path: Path) -> None:
    h = Harness(tmp_path, LineStore(), batch_size=4, batch_max_ms=50)
    h.pipeline.handle(received(batch_payload(1), 1))
    started = h.pipeline.started
    assert not h.pipeline.due(started)
    assert h.pipeline.due(started + 0.06)
    h.pipeline.handle(received(batch_payload(2, site="J1"), 2))
    assert h.pipeline.due(started)  # 4 points
