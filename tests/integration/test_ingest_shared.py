"""Two ingest processes in one shared-subscription group split the stream; nothing is lost or
stored twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = pytest.mark.integration


def test_share_group_splits_the_stream(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer
) -> None:
    stream = past_stream(4800, per_message=12, junctions=20)
    procs = []
    for name in ("a", "b"):
        env = ingest_env(tmp_path / name, mosquitto.port, influxd.url, "shared", f"ingest-{name}")
        env["CITYTRAFFIC_MQTT__SHARE_GROUP"] = "ingest"
        procs.append(start_ingest(tmp_path / name / "ingest", env))
    store = InfluxStore(influxd.url, "shared")
    start_ns, end_ns = stream.start_s * 10**9, stream.end_s * 10**9
    try:
        with GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway) as pub:
            for message in stream.iter_messages():
                pub.publish(message)
            assert pub.flush(30)
        deadline = time.monotonic() + 60
        while store.count("detector", "seq", start_ns, end_ns) < 4800:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        per_process = [p.metric("citytraffic_ingest_readings_stored_total") for p in procs]
        for p in procs:
            p.stop()
    finally:
        for p in procs:
            p.kill()
    assert all(n > 0 for n in per_process), per_process
    assert sum(per_process) == 4800  # each message went to exactly one member of the group
    assert store.count("detector", "seq", start_ns, end_ns) == 4800
    store.close()
