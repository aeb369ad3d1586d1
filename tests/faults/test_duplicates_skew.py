"""Duplicated and reordered deliveries and gateway clock skew (simulators/faults on the gateway
side): the store holds exactly one point per unique reading, at its source time (shifted by the
skew); readings stamped too far in the future are quarantined, never written (at their own time
or at server time)."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.checks import assert_reconciled, dead_letters, quarantined
from support.waiting import wait_for

from citytraffic.messaging import payloads
from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.settings import IngestSettings
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.convert import time_ns
from ingest.loadgen import NS, Reading, message_readings, past_stream
from ingest.process import IngestProcess, ingest_env, start_ingest
from simulators.faults import FaultInjector, fault_plan, read_ground_truth

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)
READINGS = 12_000
# skews off the 30 s grid (7 s and 11 s) so a shifted message never lands on another's identity.
# past_stream's newest timestamp is at least 330 s before the test starts, so +367 s puts the
# newest readings up to 37 s in the future (stored: within the 120 s tolerance) and never past the
# half-tolerance line the test checks below (+397 s could reach +67 s: it failed when publishing
# was quick and the stream's start fell just after an interval boundary).
SPEC = (
    "duplicate:p=0.3,copies=2;reorder:p=0.2,delay=5;"
    "skew:p=0.05,offset=2d;skew:p=0.05,offset=-3589s;skew:p=0.05,offset=367s"
)


class Recorder:
    """The gateway's publisher, remembering every message handed to it (after the faults)."""

    def __init__(self, inner: GatewayPublisher) -> None:
        self.inner = inner
        self.sent: list[payloads.DetectorBatch] = []

    def publish(self, message: payloads.Message) -> None:
        assert isinstance(message, payloads.DetectorBatch)
        self.sent.append(message)
        self.inner.publish(message)

    def flush(self, timeout_s: float = 30.0) -> bool:
        return self.inner.flush(timeout_s)

    def close(self, timeout_s: float = 10.0) -> bool:
        return self.inner.close(timeout_s)


def test_duplicates_reordering_and_skew_store_each_unique_reading_once(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer
) -> None:
    stream = past_stream(READINGS, per_message=8, junctions=100, per_message_max=16)
    plan = fault_plan(SPEC, tmp_path / "ground-truth.jsonl", seed=11)
    assert plan is not None
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "dupskew", "ingest-dupskew")
    store = InfluxStore(influxd.url, "dupskew")
    ingest = start_ingest(tmp_path / "ingest", env)
    injector = FaultInjector(plan, datetime.fromtimestamp(stream.start_s, UTC))
    recorder = Recorder(GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway))
    gateway = injector.wrap(stream.gateway, recorder)
    try:
        for message in stream.iter_messages():
            gateway.publish(message)
        assert gateway.close(60)
        injector.close()
        now_ns = time.time_ns()
        tolerance_ns = int(IngestSettings().future_tolerance_s * NS)
        future = [m for m in recorder.sent if _ns(m) > now_ns + tolerance_ns]
        wait_for(lambda: _quarantined(ingest) >= len(future), 120, "future messages quarantined")
        unique: dict[int, Reading] = {}
        for m in recorder.sent:
            if _ns(m) <= now_ns + tolerance_ns:
                unique.update((r.number, r) for r in message_readings(m))
        wait_for(lambda: _stored_total(store) >= len(unique), 120, "the unique readings stored")
        time.sleep(1.0)
        metrics = ingest.metrics()
        ingest.stop()
    finally:
        ingest.kill()
    faults = Counter(r.fault for r in read_ground_truth(tmp_path / "ground-truth.jsonl"))
    log.info(
        "faults injected: %s; %d messages sent for %d", faults, len(recorder.sent), stream.messages
    )
    assert faults["duplicate"] and faults["reorder"] and faults["skew"], faults
    # the readings are unambiguous: far in the past or far in the future, none near the limit
    assert all(
        _ns(m) <= now_ns + tolerance_ns // 2 or _ns(m) > now_ns + 86_400 * NS for m in recorder.sent
    )
    assert future and len(unique) < READINGS
    assert len(recorder.sent) > stream.messages  # duplicates went out
    # one point per unique reading, none anywhere else (the whole time axis is checked)
    assert _stored_total(store) == len(unique)
    assert_reconciled(store, unique.values(), stream.start_ns - 7200 * NS, now_ns + tolerance_ns)
    # the future-stamped messages (each copy) are quarantined, and nothing else
    records = quarantined(tmp_path)
    assert sorted(json.loads(r["payload"])["seq"] for r in records) == sorted(m.seq for m in future)
    assert {r["reason"] for r in records} == {"future"}
    assert metrics["citytraffic_ingest_quarantined_total"] == len(future)
    assert dead_letters(tmp_path) == []
    store.close()


def _ns(m: payloads.DetectorBatch) -> int:
    return time_ns(m.ts)


def _stored_total(store: InfluxStore) -> int:
    return store.count("detector", "seq", 0, 2**62)


def _quarantined(ingest: IngestProcess) -> float:
    return ingest.metric("citytraffic_ingest_quarantined_total")
