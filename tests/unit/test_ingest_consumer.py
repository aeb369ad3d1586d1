"""MqttConsumer (citytraffic/messaging/client.py) against a fake paho client, and its FastClient
against a scripted broker on a loopback socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from paho.mqtt.enums import MQTTErrorCode

from citytraffic.messaging.client import (
    FastClient,
    MqttAuthError,
    MqttConsumer,
    Received,
    Subscription,
)


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


def test_ack_many_without_batching_client_acks_one_by_one_and_counts_stale() -> None:
    got: list[Received] = []
    c, fake = make(got.append)
    connack(c, fake)
    fake.on_message(fake, None, Msg("a/b", b"x", 11))
    fake.on_message(fake, None, Msg("a/b", b"y", 12, qos=0))
    fake.on_disconnect(fake, None, None, RC("lost"), None)
    connack(c, fake)
    fake.on_message(fake, None, Msg("a/b", b"z", 13))
    assert c.ack_many(got) == 1  # mid 11 came on the previous connection
    assert fake.acked == [13]


# ---- FastClient (the default paho client) against a scripted broker on a real socket ----------


def _publish(topic: bytes, payload: bytes, mid: int, qos: int = 1, flags: int = 0) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"")
    body += payload
    length, n = bytearray(), len(body)
    while True:
        n, digit = divmod(n, 128)
        length.append(digit | (0x80 if n else 0))
        if not n:
            break
    return bytes([0x30 | qos << 1 | flags]) + bytes(length) + body


def _read_packet(conn: socket.socket) -> tuple[int, bytes]:
    header = conn.recv(1)[0]
    length, mult = 0, 1
    while True:
        byte = conn.recv(1)[0]
        length += (byte & 127) * mult
        mult *= 128
        if not byte & 128:
            break
    body = b""
    while len(body) < length:
        body += conn.recv(length - len(body))
    return header, body


class ScriptedBroker:
    """Accepts the consumer's connections and plays the broker's side of each by hand."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]

    def accept(self, c: MqttConsumer) -> socket.socket:
        c.step(0)  # connects and sends CONNECT
        conn, _ = self.server.accept()
        conn.settimeout(5)
        assert _read_packet(conn)[0] == 0x10
        conn.sendall(b"\x20\x02\x00\x00")  # CONNACK accepted
        c.step(1.0)  # reads it, queues SUBSCRIBE (paho writes it on the next loop)
        c.step(0.05)
        header, body = _read_packet(conn)
        assert header == 0x82
        conn.sendall(b"\x90\x03" + body[:2] + b"\x01")  # SUBACK QoS 1
        c.step(1.0)
        assert c.subscribed
        return conn

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def broker() -> Iterator[ScriptedBroker]:
    b = ScriptedBroker()
    yield b
    b.close()


def real_consumer(port: int, handler: Any) -> MqttConsumer:
    c = MqttConsumer("127.0.0.1", port, "t", handler, manual_ack=True, clean_session=False)
    c.subscribe(Subscription("traffic/#", 1))
    assert isinstance(c.client, FastClient)
    return c


def test_fast_path_delivers_what_paho_would_and_acks_in_one_write(
    broker: ScriptedBroker,
) -> None:
    got: list[Received] = []
    c = real_consumer(broker.port, got.append)
    conn = broker.accept(c)
    big = b"{" + b"x" * 300_000 + b"}"  # larger than one recv(): arrives in pieces
    burst = [
        _publish(b"traffic/a", b"one", 1),
        _publish(b"traffic/b", b"two", 2, flags=0x08),  # DUP
        _publish(b"traffic/c", b"three", 0, qos=0, flags=0x01),  # QoS 0, retained
        _publish(b"traffic/d", big, 3),
        _publish("traffic/é".encode(), b"", 4),
    ]
    conn.sendall(b"".join(burst))
    for _ in range(50):
        c.step(0.2, 256)
        if len(got) == 5:
            break
    gen = c.generation
    assert got == [
        Received("traffic/a", b"one", 1, 1, False, False, gen),
        Received("traffic/b", b"two", 1, 2, True, False, gen),
        Received("traffic/c", b"three", 0, 0, False, True, gen),
        Received("traffic/d", big, 1, 3, False, False, gen),
        Received("traffic/é", b"", 1, 4, False, False, gen),
    ]
    assert c.received_total == 5 and c.redelivered_total == 1
    assert c.ack_many(got) == 0
    c.step(0.05)
    acks = b""
    while len(acks) < 16:
        acks += conn.recv(16 - len(acks))
    assert acks == b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid in (1, 2, 3, 4))
    c.disconnect()
    conn.close()


def test_invalid_utf8_topic_takes_paho_path_and_is_never_acked(broker: ScriptedBroker) -> None:
    got: list[Received] = []
    c = real_consumer(broker.port, got.append)
    conn = broker.accept(c)
    conn.sendall(_publish(b"traffic/\xff", b"bad", 1) + _publish(b"traffic/ok", b"good", 2))
    for _ in range(20):
        c.step(0.2, 256)
        if got:
            break
    assert [m.payload for m in got] == [b"good"] and c.handler_errors == 1
    c.disconnect()
    conn.close()


def test_buffered_packets_are_read_without_new_bytes_on_the_socket(
    broker: ScriptedBroker,
) -> None:
    """One recv() takes in every packet: each step must read on from the buffer, as select()
    no longer reports them (no burst: one packet per step)."""
    got: list[Received] = []
    c = real_consumer(broker.port, got.append)
    conn = broker.accept(c)
    conn.sendall(b"".join(_publish(b"traffic/x", bytes([i]), i + 1) for i in range(5)))
    for _ in range(5):
        c.step(1.0)
    assert [m.mid for m in got] == [1, 2, 3, 4, 5]
    c.disconnect()
    conn.close()


def test_bytes_of_a_closed_connection_never_reach_the_next_one(broker: ScriptedBroker) -> None:
    got: list[Received] = []
    c = real_consumer(broker.port, got.append)
    c.reconnect_min_s = 0.0
    first = broker.accept(c)
    first.sendall(_publish(b"traffic/x", b"old-1", 1) + _publish(b"traffic/x", b"old-2", 2))
    while not got:
        c.step(1.0)  # reads old-1; old-2 waits in the buffer
    c.disconnect()
    c._next_attempt = 0.0
    second = broker.accept(c)
    second.sendall(_publish(b"traffic/x", b"new", 1))
    for _ in range(20):
        c.step(0.2, 256)
        if len(got) == 2:
            break
    assert [(m.payload, m.generation) for m in got] == [(b"old-1", 1), (b"new", 2)]
    c.disconnect()
    first.close()
    second.close()
