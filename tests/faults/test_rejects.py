"""A field type conflict in InfluxDB and a malformed line: counted and dead-lettered with the
store's reason, never dropped silently, and every good point beside them stored.

- `signal.seq` is pre-created as a float, so InfluxDB refuses every signal point the ingest writes
  (integer seq) with "partial write: field type conflict" while keeping the readings of the same
  batch; the ingest bisects the batch, dead-letters each refused point, stores the rest;
- a signal whose plan holds a newline decodes (plan is free text) but cannot be line protocol: it
  is dead-lettered as `unencodable` before anything is sent;
- a spool segment left by an earlier run holds one malformed line among good ones: the drain
  isolates it (InfluxDB answers 400 "unable to parse"), dead-letters it and stores the others.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.checks import (
    assert_reconciled,
    dead_letters,
    ingest_files,
    spool_segments,
    stored_at_least,
)
from support.waiting import wait_for

from citytraffic.messaging import payloads
from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.lines import LineBuilder
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest
from ingest.spool import Spool

pytestmark = [pytest.mark.integration, pytest.mark.slow]
READINGS = 6000
SIGNALS = 20
MALFORMED = "detector,detector=J0000-D99,site=J0000 count=12i,occupancy= 1"


def test_type_conflict_and_malformed_line_are_dead_lettered_never_dropped(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer
) -> None:
    stream = past_stream(READINGS, per_message=8, junctions=20, per_message_max=16)
    store = InfluxStore(influxd.url, "rejects")
    store.write_lines(f"signal,site=J0000 seq=1.5 {stream.start_ns}".encode())  # seq: float
    # message 0 reaches the store only through a spool segment that holds a malformed line
    first = LineBuilder().lines(stream.message(0), 0)
    Spool(ingest_files(tmp_path) / "spool").put_lines([*first[:3], MALFORMED, *first[3:]])
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "rejects", "ingest-rejects")
    ingest = start_ingest(tmp_path / "ingest", env)
    ts = datetime.fromtimestamp(stream.start_s, UTC)
    try:
        with GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway) as pub:
            for i, message in enumerate(stream.iter_messages()):
                if i == 0:
                    continue
                pub.publish(message)
                if i <= SIGNALS:  # in the same batches as the readings, same shard as seq=1.5
                    site = f"J{i:04d}"
                    pub.publish(payloads.SignalState(stream.gateway, i, site, ts, "P1", "2", "Gr"))
            pub.publish(payloads.SignalState(stream.gateway, 99, "J0000", ts, "P\n1", "1", "rG"))
            assert pub.flush(60)
        wait_for(stored_at_least(store, stream, READINGS), 120, "every reading stored")
        dead = "citytraffic_ingest_dead_letters_total"
        wait_for(lambda: ingest.metric(dead) >= SIGNALS + 2, 60, "the dead letters counted")
        metrics = ingest.metrics()
        ingest.stop()
    finally:
        ingest.kill()
    assert metrics[f'{dead}{{reason="rejected_by_store"}}'] == SIGNALS + 1
    assert metrics[f'{dead}{{reason="unencodable"}}'] == 1
    records = dead_letters(tmp_path)
    reasons = Counter(r["reason"] for r in records)
    assert reasons == {"rejected_by_store": SIGNALS + 1, "unencodable": 1}
    refused = [r for r in records if r["reason"] == "rejected_by_store"]
    from_mqtt = [r for r in refused if r["topic"].endswith("/signal")]
    assert len(from_mqtt) == SIGNALS
    assert all("field type conflict" in r["detail"] for r in from_mqtt)
    (spooled,) = [r for r in refused if r["topic"].startswith("spool:")]
    assert spooled["payload"] == MALFORMED and "unable to parse" in spooled["detail"]
    (newline,) = [r for r in records if r["reason"] == "unencodable"]
    assert "newline" in newline["detail"] and newline["topic"].endswith("/J0000/signal")
    # the good points beside them: every reading, and no signal point but the pre-created one
    assert_reconciled(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
    assert store.count("signal", "seq", 0, 2**62) == 1
    assert spool_segments(tmp_path) == []
    store.close()
