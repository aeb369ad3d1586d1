"""MqttConsumer (citytraffic/messaging/client.py) against a fake paho client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from paho.mqtt.enums import MQTTErrorCode

from citytraffic.messaging.client import MqttAuthError, MqttConsumer, Received, Subscription


@dataclass
class RC:
    name: str
    is_failure: bool = False
    value: int = 0

    def __str__(self) -> str:
        return self.name


@dataclass
class Msg:
    topic: str
    payload: bytes
    mid: int
    qos: int = 1
    dup: bool = False
    retain: bool = False

    @property
    def _topic(self) -> bytes:
        return self.topic.encode()


@dataclass
class FakePaho:
    subscribed: list[str] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)
    connects: int = 0
    sock: object | None = None
    on_connect: Any = None
    on_disconnect: Any = None
    on_message: Any = None
    on_subscribe: Any = None
    on_socket_open: Any = None

    def socket(self) -> object | None:
        return self.sock

    def connect(self, host: str, port: int, keepalive: int) -> None:
        self.connects += 1
        self.sock = object()

    reconnect = lambda self: self.connect("", 0, 0)  # noqa: E731

    def loop(self, timeout: float) -> MQTTErrorCode:
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def subscribe(self, topic: str, qos: int) -> tuple[MQTTErrorCode, int]:
        self.subscribed.append(topic)
        return MQTTErrorCode.MQTT_ERR_SUCCESS, len(self.subscribed)

    def ack(self, mid: int, qos: int) -> MQTTErrorCode:
        self.acked.append(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def disconnect(self) -> None:
        self.sock = None


def make(handler: Any) -> tuple[MqttConsumer, FakePaho]:
    fake = FakePaho()
    c = MqttConsumer("h", 1, "id", handler, client=fake, manual_ack=True, clean_session=False)
    c.subscribe(Subscription("traffic/v1/site/+/detectors"), Subscription("b/#", 0))
    return c, fake


def connack(c: MqttConsumer, fake: FakePaho, rc: RC | None = None) -> None:
    fake.on_connect(fake, None, None, rc or RC("Success"), None)


def test_subscriptions_are_reissued_on_every_connect() -> None:
    c, fake = make(lambda m: None)
    c.step(0)
    connack(c, fake)
    assert sorted(fake.subscribed) == ["b/#", "traffic/v1/site/+/detectors"]
    fake.on_disconnect(fake, None, None, RC("lost"), None)
    assert not c.connected
    connack(c, fake)
    assert len(fake.subscribed) == 4 and c.generation == 2
    fake.on_subscribe(fake, None, 3, [RC("Granted QoS 1")], None)
    assert not c.subscribed
    fake.on_subscribe(fake, None, 4, [RC("Granted QoS 0")], None)
    assert c.subscribed


def test_handler_errors_never_reach_the_network_loop() -> None:
    seen: list[Received] = []

    def handler(m: Received) -> None:
        seen.append(m)
        raise RuntimeError("boom")

    c, fake = make(handler)
    connack(c, fake)
    fake.on_message(fake, None, Msg("a/b", b"\xff" * 500, 7, dup=True))
    assert c.handler_errors == 1 and c.redelivered_total == 1 and c.received_total == 1
    assert seen[0].payload == b"\xff" * 500 and seen[0].generation == 1


def test_acks_only_on_the_connection_that_delivered() -> None:
    got: list[Received] = []
    c, fake = make(got.append)
    connack(c, fake)
    fake.on_message(fake, None, Msg("a/b", b"x", 11))
    assert c.ack(got[0]) and fake.acked == [11]
    fake.on_message(fake, None, Msg("a/b", b"y", 12))
    fake.on_disconnect(fake, None, None, RC("lost"), None)
    connack(c, fake)
    assert not c.ack(got[1])  # mid 12 may now name another message: never acked
    assert fake.acked == [11]


@pytest.mark.parametrize("reason", ["Not authorized", "Bad user name or password"])
def test_refused_credentials_stop_reconnecting(reason: str) -> None:
    c, fake = make(lambda m: None)
    c.step(0)
    connack(c, fake, RC(reason, is_failure=True))
    with pytest.raises(MqttAuthError, match="refused"):
        c.step(0)
    fake.sock = None
    with pytest.raises(MqttAuthError):
        c.step(0)
    assert fake.connects == 1


def test_other_refusals_and_lost_connections_retry_with_backoff() -> None:
    c, fake = make(lambda m: None)
    c.step(0)
    connack(c, fake, RC("Server unavailable", is_failure=True))
    fake.sock = None
    c._schedule_retry("test")
    first_delay = c._delay_s
    c._schedule_retry("test")
    assert c._delay_s == min(first_delay * 2, c.reconnect_max_s)
    c._next_attempt = 0
    c.step(0)
    assert fake.connects == 2
    connack(c, fake)
    assert c._delay_s == c.reconnect_min_s
