"""GatewayPublisher against a real mosquitto, restarted mid-stream: nothing is lost."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest
from support.waiting import wait_for

from citytraffic.messaging import payloads
from citytraffic.messaging.broker_process import Broker, start_mosquitto
from citytraffic.messaging.client import MqttConsumer, Received, Subscription
from citytraffic.messaging.publisher import GatewayPublisher

pytestmark = pytest.mark.integration


def batch(seq: int) -> payloads.DetectorBatch:
    return payloads.DetectorBatch(
        gateway="gw1",
        seq=seq,
        site="J1",
        ts=datetime(2024, 5, 1, tzinfo=UTC),
        interval_s=30,
        readings=[payloads.DetectorValue("D1", count=seq % 40)],
    )


class Collector:
    def __init__(self) -> None:
        self.seqs: set[int] = set()
        self.statuses: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, msg: Received) -> None:
        doc = msgspec.json.decode(msg.payload)
        with self.lock:
            if msg.topic.endswith("/status"):
                self.statuses.append(doc["status"])
            else:
                self.seqs.add(doc["seq"])


def test_broker_restart_mid_stream_loses_nothing(mosquitto: Broker) -> None:
    n = 4000
    collector = Collector()
    sub = MqttConsumer("127.0.0.1", mosquitto.port, "test-sub", collector, clean_session=False)
    sub.subscribe(Subscription("traffic/v1/#", 1))
    sub.start()
    wait_for(lambda: sub.connected, 10, "the subscriber")
    pub = GatewayPublisher("127.0.0.1", mosquitto.port, "gw1", max_inflight=50)
    sent = 0

    def produce() -> None:
        nonlocal sent
        for i in range(n):
            pub.publish(batch(i))
            sent = i + 1
            if i % 20 == 0:
                time.sleep(0.005)

    producer = threading.Thread(target=produce)
    producer.start()
    wait_for(lambda: sent >= n // 4, 60, "a quarter published")
    mosquitto.restart()  # SIGTERM (mosquitto saves its persistence) and start again
    sent_at_restart = sent
    producer.join(120)
    assert pub.flush(60), f"{pub.pending} messages never acknowledged"
    wait_for(lambda: len(collector.seqs) == n, 60, "every message delivered")
    pub.close()
    sub.stop()
    assert 0 < sent_at_restart < n, "the restart did not land mid-stream"
    assert pub.connects_total >= 2 and sub.connects_total >= 2
    assert collector.seqs == set(range(n))
    assert "online" in collector.statuses
    assert "Permission denied" not in mosquitto.tail(100_000)


def test_publisher_waits_for_a_broker_that_is_not_up_yet(tmp_path: Path) -> None:
    from citytraffic.processes import free_port

    port = free_port()
    pub = GatewayPublisher("127.0.0.1", port, "gw1", reconnect_max_s=1)
    for i in range(50):
        pub.publish(batch(i))
    assert not pub.flush(0.5)
    assert pub.pending == 50
    broker = start_mosquitto(tmp_path / "late", port=port)
    try:
        assert pub.flush(30)
        assert pub.acked_total >= 50
    finally:
        pub.close()
        broker.stop()


def test_abort_drops_the_connection_and_the_broker_sends_the_will(mosquitto: Broker) -> None:
    collector = Collector()
    sub = MqttConsumer("127.0.0.1", mosquitto.port, "test-will", collector)
    sub.subscribe(Subscription("traffic/v1/gateway/+/status", 1))
    sub.start()
    try:
        wait_for(lambda: sub.subscribed, 10, "the subscription")
        pub = GatewayPublisher("127.0.0.1", mosquitto.port, "gw1")
        pub.publish(batch(1))
        assert pub.flush(10)
        wait_for(lambda: collector.statuses == ["online"], 10, "online")
        assert pub.abort() == 0
        wait_for(lambda: collector.statuses == ["online", "offline"], 10, "the will")
        with pytest.raises(RuntimeError):
            pub.publish(batch(2))
        time.sleep(1.5)  # it must not come back by itself
        assert collector.statuses == ["online", "offline"]
    finally:
        sub.stop()
