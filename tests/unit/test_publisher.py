"""GatewayPublisher buffering logic against a fake paho client (no network)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from paho.mqtt.enums import MQTTErrorCode

from citytraffic.messaging import payloads
from citytraffic.messaging.client import MqttAuthError
from citytraffic.messaging.publisher import GatewayPublisher


@dataclass
class Info:
    mid: int
    rc: MQTTErrorCode


@dataclass
class FakeRC:
    name: str
    is_failure: bool = False

    def __str__(self) -> str:
        return self.name


@dataclass
class FakePaho:
    """Holds at most `capacity` unacked messages, like paho with max_queued_messages set."""

    capacity: int = 3
    connected: bool = True
    next_mid: int = 0
    _out_messages: dict[int, tuple[str, bytes, bool]] = field(default_factory=dict)
    _out_message_mutex: Any = field(default_factory=threading.RLock)
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    refusals: int = 0
    on_connect: Any = None
    on_disconnect: Any = None
    on_publish: Any = None
    on_socket_open: Any = None

    def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> Info:
        assert qos == 1
        with self._out_message_mutex:
            if len(self._out_messages) >= self.capacity:
                self.refusals += 1
                return Info(0, MQTTErrorCode.MQTT_ERR_QUEUE_SIZE)
            self.next_mid = self.next_mid % 65535 + 1
            self._out_messages[self.next_mid] = (topic, payload, retain)
            self.sent.append((topic, payload))
            rc = (
                MQTTErrorCode.MQTT_ERR_SUCCESS if self.connected else MQTTErrorCode.MQTT_ERR_NO_CONN
            )
            return Info(self.next_mid, rc)

    def puback(self, mid: int) -> None:
        """What paho does on PUBACK: callback first, then forget the message."""
        with self._out_message_mutex:
            self.on_publish(self, None, mid, FakeRC("Success"), None)
            del self._out_messages[mid]

    def puback_all(self) -> int:
        mids = sorted(self._out_messages)
        for mid in mids:
            self.puback(mid)
        return len(mids)

    def connect(self) -> None:
        self.connected = True
        self.on_connect(self, None, None, FakeRC("Success"), None)

    def disconnect(self) -> None:
        self.connected = False
        self.on_disconnect(self, None, None, FakeRC("Normal disconnection"), None)

    def loop_stop(self) -> None:
        pass


def reading(seq: int) -> payloads.DetectorBatch:
    return payloads.DetectorBatch(
        gateway="gw1",
        seq=seq,
        site="J1",
        ts=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        interval_s=30,
        readings=[payloads.DetectorValue("D1", count=seq % 50, occupancy=0.1, speed_kmh=40.0)],
    )


def make(capacity: int = 3, max_buffer: int = 10) -> tuple[GatewayPublisher, FakePaho]:
    fake = FakePaho(capacity=capacity)
    pub = GatewayPublisher("h", 1, "gw1", client=fake, start=False, max_buffer=max_buffer)
    fake.connect()
    pub._send_waiting()  # the network thread's job: hands the retained "online" status over
    assert fake.puback_all() == 1
    fake.sent.clear()
    return pub, fake


def run_network(pub: GatewayPublisher, fake: FakePaho) -> None:
    """What the network thread does: hand waiting entries over, take acks, until quiet."""
    while pub._send_waiting() or fake.puback_all():
        pass


def seqs(fake: FakePaho) -> list[int]:
    out = []
    for topic, payload in fake.sent:
        if topic.endswith("/detectors"):
            out.append(msgspec.json.decode(payload)["seq"])
    return out


def test_refused_publishes_stay_buffered_and_go_out_after_acks() -> None:
    pub, fake = make(capacity=3)
    for i in range(7):
        pub.publish(reading(i))
    assert fake.sent == []  # publish() only buffers
    pub._send_waiting()
    assert seqs(fake) == [0, 1, 2]  # paho refused the rest with an rc
    assert fake.refusals == 1 and pub.refused_total == 1
    assert pub.pending == 7
    run_network(pub, fake)
    assert seqs(fake) == list(range(7))
    assert pub.pending == 0
    assert pub.acked_total == 1 + 7  # and the online status
    assert pub.flush(0.1)


def test_unacked_messages_are_never_dropped_and_flush_times_out() -> None:
    pub, fake = make(capacity=2)
    for i in range(5):
        pub.publish(reading(i))
    pub._send_waiting()
    assert not pub.flush(0.2)
    assert pub.pending == 5
    run_network(pub, fake)
    assert pub.flush(0.1)


def test_publish_blocks_when_buffer_full_until_an_ack() -> None:
    pub, fake = make(capacity=2, max_buffer=3)
    for i in range(3):
        pub.publish(reading(i))
    pub._send_waiting()
    done = threading.Event()

    def fourth() -> None:
        pub.publish(reading(3))
        done.set()

    t = threading.Thread(target=fourth)
    t.start()
    assert not done.wait(0.3)  # back-pressure: blocked, not dropped
    fake.puback(min(fake._out_messages))
    assert done.wait(5)
    t.join()
    run_network(pub, fake)
    assert seqs(fake) == [0, 1, 2, 3]
    assert pub.pending == 0


def test_reconnect_resends_entries_paho_lost_and_publishes_online() -> None:
    pub, fake = make(capacity=6)
    for i in range(4):
        pub.publish(reading(i))
    pub._send_waiting()
    fake.disconnect()
    pub.publish(reading(4))
    assert not pub._send_waiting()  # nothing goes to paho while disconnected
    with fake._out_message_mutex:  # simulate paho losing its session copy of two messages
        for mid in sorted(fake._out_messages)[:2]:
            del fake._out_messages[mid]
    fake.sent.clear()
    fake.connect()
    pub._send_waiting()
    topics_sent = [t for t, _ in fake.sent]
    assert topics_sent[0] == "traffic/v1/gateway/gw1/status"
    assert msgspec.json.decode(fake.sent[0][1])["status"] == "online"
    assert seqs(fake) == [0, 1, 4]  # the two lost ones, re-sent in order, then the new one
    run_network(pub, fake)
    assert pub.pending == 0


def test_auth_refusal_makes_publish_raise() -> None:
    pub, fake = make()
    pub.publish(reading(0))
    fake.on_connect(fake, None, None, FakeRC("Not authorized", is_failure=True), None)
    with pytest.raises(MqttAuthError):
        pub.publish(reading(1))
    start = time.monotonic()
    assert not pub.flush(5)  # gives up at once, the unacked message stays counted
    assert pub.pending == 1
    assert time.monotonic() - start < 5


def test_nothing_is_handed_to_paho_before_connack() -> None:
    fake = FakePaho(capacity=5)
    pub = GatewayPublisher("h", 1, "gw1", client=fake, start=False)
    pub.publish(reading(1))
    pub._send_waiting()
    assert fake.sent == [] and pub.pending == 1
    fake.connect()
    pub._send_waiting()
    assert [t for t, _ in fake.sent] == [
        "traffic/v1/gateway/gw1/status",
        "traffic/v1/site/J1/detectors",
    ]


def test_will_and_topics_are_checked() -> None:
    pub, fake = make()
    with pytest.raises(ValueError):
        pub.publish_raw("traffic/v1/site/+/detectors", b"{}")
    status = payloads.GatewayStatus("gw1", "online")
    pub.publish(status)
    pub._send_waiting()
    assert fake.sent[-1][0] == "traffic/v1/gateway/gw1/status"
