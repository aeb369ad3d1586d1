"""influxd stopped while the gateway keeps publishing at its full rate (CITYTRAFFIC_FAULT_OUTAGE_S,
20 s in CI, 120 s in the soak run), then started again: the ingest spools every batch durably
(and acks it), raises the alarm (`store_up` 0, spool depth > 0 on its metrics port), drains the
spool when influxd answers again, and every reading is stored exactly once."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from support.checks import assert_reconciled, dead_letters, spool_segments, stored_at_least
from support.knobs import Knobs
from support.producer import Producer
from support.sampler import MetricsSampler
from support.waiting import wait_for

from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)
P = "citytraffic_ingest_"
UP, DEPTH, STORED = f"{P}store_up", f"{P}spool_segments", f"{P}readings_stored_total"
BEFORE_S, AFTER_S = 4.0, 6.0  # traffic before the outage and after it


def test_influxd_outage_at_full_rate_is_spooled_alerted_and_drained(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer, knobs: Knobs
) -> None:
    n = int(knobs.rate_rps * (BEFORE_S + knobs.outage_s + AFTER_S))
    stream = past_stream(n, per_message=8, junctions=100, per_message_max=16)
    env = ingest_env(
        tmp_path, mosquitto.port, influxd.url, "outage", "ingest-outage", store_retry_s=1
    )
    store = InfluxStore(influxd.url, "outage")
    ingest = start_ingest(tmp_path / "ingest", env)
    sampler = MetricsSampler(ingest, [UP, DEPTH, STORED]).start()
    publisher = GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway)
    producer = Producer(publisher, stream.iter_messages(), knobs.rate_rps * stream.messages / n)
    producer.start()
    try:
        wait_for(stored_at_least(store, stream, 1), 60, "the first readings")
        wait_for(producer.reached(stream.messages * BEFORE_S / (n / knobs.rate_rps)), 60, "4 s")
        influxd.stop()
        down_at, published_at_stop = time.monotonic(), producer.published
        time.sleep(knobs.outage_s)
        published_at_start = producer.published
        influxd.start()
        up_at = time.monotonic()
        wait_for(lambda: ingest.metric(DEPTH) == 0, 300, "the spool drained")
        drained_s = time.monotonic() - up_at
        producer.join(300)
        assert publisher.flush(120), f"{publisher.pending} messages never acked by the broker"
        wait_for(stored_at_least(store, stream, n), 300, "every reading stored")
        caught_up_s = time.monotonic() - up_at
        time.sleep(1.0)
        final = ingest.metrics()
        ingest.stop()
        assert ingest.proc is not None and ingest.proc.returncode == 0, ingest.tail()
    finally:
        sampler.stop()
        producer.stop()
        publisher.close()
        ingest.kill()
    during = sampler.between(down_at, up_at)
    log.info(
        "outage %.0f s: published %d -> %d messages; max spool depth %d; samples %d; "
        "spool drained %.1f s and every reading stored %.1f s after influxd was back",
        knobs.outage_s,
        published_at_stop,
        published_at_start,
        max(s[DEPTH] for s in during),
        len(during),
        drained_s,
        caught_up_s,
    )
    assert published_at_stop < published_at_start < stream.messages, "no traffic in the outage"
    # the alarm: store_up 0 and a growing spool while influxd was down
    assert any(s[UP] == 0 and s[DEPTH] > 0 for s in during), during[-5:]
    stored_during = [s[STORED] for s in during]
    assert stored_during[-1] > stored_during[0], "batches were not made durable (spooled) in it"
    assert final[UP] == 1 and final[DEPTH] == 0
    assert final[f"{P}spooled_batches_total"] > 0
    assert spool_segments(tmp_path) == []
    assert dead_letters(tmp_path) == []
    assert_reconciled(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
    # the ingest_stats points written after the outage tell the API what happened
    rows = store.range("ingest_stats", 0, time.time_ns() + 10**9)
    assert rows and rows[-1].fields["spool_segments"] == 0 and rows[-1].fields["store_up"] is True
    assert max(r.fields["store_errors"] for r in rows) > 0
    store.close()
