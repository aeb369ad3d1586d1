"""The key test: 20,000 readings through mosquitto into InfluxDB while the ingest process is
killed with SIGKILL mid-stream and restarted. Exactly 20,000 points with the values sent must
arrive: none lost (ack only after durable), none duplicated (source timestamps + idempotent
point identity)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
from support.checks import assert_reconciled, stored_count
from support.waiting import wait_for

from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N = 20_000


def test_kill_9_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer
) -> None:
    stream = past_stream(N, per_message=12, junctions=50)
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "kill9", "ingest-kill9", batch_size=600)
    first = start_ingest(tmp_path / "ingest", env)
    store = InfluxStore(influxd.url, "kill9")
    publisher = GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway)
    published = 0

    def produce() -> None:  # about 6 s of traffic, so the kill lands inside it
        nonlocal published
        start = time.monotonic()
        for i, message in enumerate(stream.iter_messages()):
            publisher.publish(message)
            published = i + 1
            ahead_s = start + i / 300 - time.monotonic()
            if ahead_s > 0:
                time.sleep(ahead_s)

    producer = threading.Thread(target=produce)
    producer.start()
    second = None
    try:
        wait_for(lambda: stored_count(store, stream) >= 2000, 60, "the first readings")
        first.kill()  # SIGKILL: no flush, no clean disconnect
        published_at_kill = published
        stored_at_kill = stored_count(store, stream)
        assert 0 < stored_at_kill < N, "the kill did not land mid-stream"
        assert published_at_kill < stream.messages
        time.sleep(1.0)
        second = start_ingest(tmp_path / "ingest", env)
        producer.join(120)
        assert publisher.flush(60)
        wait_for(lambda: stored_count(store, stream) >= N, 120, f"{N} readings in InfluxDB")
        time.sleep(1.0)  # anything still in flight would show up as an excess now
        redelivered = second.metric("citytraffic_ingest_redelivered_messages_total")
        stored_by_second = second.metric("citytraffic_ingest_readings_stored_total")
        second.stop()
        assert second.proc is not None and second.proc.returncode == 0, second.tail()
    finally:
        producer.join(5)
        publisher.close()
        first.kill()
        if second is not None:
            second.kill()
    logging.getLogger(__name__).info(
        "stored at kill %d/%d, published at kill %d/%d msgs, redelivered %d, stored after %d",
        stored_at_kill,
        N,
        published_at_kill,
        stream.messages,
        redelivered,
        stored_by_second,
    )
    assert_reconciled(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
    # The messages in flight at the kill came back with the DUP flag to the new process,
    # and the new process stored everything that had not been stored at the kill.
    assert redelivered > 0, "no message was redelivered after the restart"
    assert stored_by_second >= N - stored_at_kill
    store.close()
