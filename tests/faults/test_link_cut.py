"""The link between the gateway and the broker cut (a TCP proxy process in between resets every
connection and refuses new ones) while readings keep coming: the gateway's publisher buffers
them and sends them when the link is back; every reading is stored exactly once."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from support.checks import assert_reconciled, dead_letters, stored_at_least, stored_count
from support.knobs import Knobs
from support.producer import Producer
from support.tcpproxy import start_tcpproxy
from support.waiting import wait_for

from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
log = logging.getLogger(__name__)
BEFORE_S, AFTER_S = 3.0, 5.0
CUTS = 2


def test_link_cut_between_gateway_and_broker_loses_nothing(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer, knobs: Knobs
) -> None:
    seconds = BEFORE_S + CUTS * (knobs.cut_s + AFTER_S)
    n = int(knobs.rate_rps * seconds)
    stream = past_stream(n, per_message=8, junctions=100, per_message_max=16)
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "linkcut", "ingest-linkcut")
    store = InfluxStore(influxd.url, "linkcut")
    ingest = start_ingest(tmp_path / "ingest", env)
    proxy = start_tcpproxy(tmp_path / "proxy", mosquitto.port)
    publisher = GatewayPublisher("127.0.0.1", proxy.port, stream.gateway, reconnect_max_s=1)
    per_s = stream.messages / seconds
    producer = Producer(publisher, stream.iter_messages(), per_s).start()
    buffered: list[int] = []
    try:
        for k in range(CUTS):
            due = per_s * (BEFORE_S + k * (knobs.cut_s + AFTER_S))
            wait_for(producer.reached(due), 120, f"publishing before cut {k + 1}")
            assert proxy.cut()["state"] == "cut"
            time.sleep(knobs.cut_s)
            # the gateway kept taking readings: they wait in its buffer
            buffered.append(publisher.pending)
            stored_in_cut = stored_count(store, stream)
            assert proxy.restore()["state"] == "up"
            wait_for(stored_at_least(store, stream, stored_in_cut + 1), 60, "traffic again")
        producer.join(300)
        assert publisher.flush(120), f"{publisher.pending} messages never acked by the broker"
        wait_for(stored_at_least(store, stream, n), 300, "every reading stored")
        time.sleep(1.0)
        status = proxy.status()
        ingest.stop()
        assert ingest.proc is not None and ingest.proc.returncode == 0, ingest.tail()
    finally:
        producer.stop()
        publisher.close()
        proxy.stop()
        ingest.kill()
    log.info("messages buffered at the end of each cut: %s; proxy %s", buffered, status)
    assert all(b > 0 for b in buffered), buffered
    assert status["cuts"] == CUTS
    assert publisher.connects_total >= CUTS + 1
    assert_reconciled(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
    assert dead_letters(tmp_path) == []
    store.close()
