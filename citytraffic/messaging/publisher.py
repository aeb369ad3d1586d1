"""Gateway-side MQTT publisher: QoS 1, a broker outage delays messages, it never drops them.

Every message stays in this object's bounded buffer from `publish()` until the broker PUBACKs it
(`on_publish`). A buffered entry is either *waiting* (not yet given to paho) or *handed* (paho
holds it in its in-memory session and, after a reconnect, retransmits it with DUP set, as MQTT
requires). paho refuses new QoS 1 messages past its in-flight/queue limits with an rc instead of
raising: the entry then stays waiting and is retried when an ack frees room. On every connect,
handed entries that paho no longer holds go back to waiting (a safety net), then waiting entries
are sent. When the buffer is full, `publish()` blocks (back-pressure) instead of dropping.

The gateway's status topic carries a retained last will `offline`; `online` (retained) is
published on every connect and `offline` again on `close()`.

Threads: `publish()` only appends to the buffer. One network thread owns the paho client: it
hands waiting entries to paho, runs the loop (reconnecting with backoff) and takes the acks.
Measured with mosquitto on 2 shared cores, this costs about a third of the CPU per message of
paho's own `loop_start()` thread plus publishing from the caller's thread (lock and GIL
hand-offs per message).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from paho.mqtt.enums import MQTTErrorCode

from citytraffic.messaging import payloads, topics
from citytraffic.messaging.client import MqttConnection, Will, paho_pending_mids

log = logging.getLogger(__name__)

_ACCEPTED = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
_IDLE_WAIT_S = 0.01  # how long the network thread waits for the socket while acks are due
_IDLE_PARK_S = 0.25  # with nothing buffered at all it sleeps until publish() (or this long)


@dataclass(slots=True)
class _Entry:
    key: int  # order of publish() calls
    topic: str
    payload: bytes
    retain: bool


def status_payload(
    gateway_id: str, status: Literal["online", "offline"], with_ts: bool = True
) -> bytes:
    ts = datetime.now(UTC) if with_ts else None
    return payloads.encode(payloads.GatewayStatus(gateway_id, status, ts))


def topic_for(message: payloads.Message) -> str:
    if isinstance(message, payloads.GatewayStatus):
        return topics.gateway_status_topic(message.gateway)
    return topics.site_topic(message.site, payloads.TOPIC_KIND[type(message)])


class GatewayPublisher(MqttConnection):
    """Publishes one gateway's messages with QoS 1; see the module docstring for guarantees."""

    def __init__(
        self,
        host: str,
        port: int,
        gateway_id: str,
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        max_buffer: int = 100_000,
        max_inflight: int = 1000,
        keepalive_s: int = 30,
        reconnect_max_s: float = 30.0,
        client: Any = None,
        start: bool = True,
    ) -> None:
        if max_buffer < 1 or max_inflight < 1:
            raise ValueError("max_buffer and max_inflight must be >= 1")
        self.gateway_id = gateway_id
        self.status_topic = topics.gateway_status_topic(gateway_id)
        super().__init__(
            host,
            port,
            client_id or f"gw-{gateway_id}-{time.time_ns() % 10**9:09d}",
            username=username,
            password=password,
            clean_session=True,
            keepalive_s=keepalive_s,
            will=Will(self.status_topic, status_payload(gateway_id, "offline", False)),
            reconnect_max_s=reconnect_max_s,
            client=client,
        )
        if client is None:
            # paho holds at most max_inflight unacked messages (its queue limit). Its own
            # in-flight limit stays off (0): with one set, paho scans every unacked message on
            # each PUBACK (a quarter of the publisher's CPU at 1000 in flight).
            self.client.max_inflight_messages_set(0)
            self.client.max_queued_messages_set(max_inflight)
        self.client.on_publish = self._on_publish
        self.max_buffer = max_buffer
        self._cond = threading.Condition()
        self._waiting: collections.deque[_Entry] = collections.deque()
        self._handed: dict[int, _Entry] = {}
        self._paho_full = False
        self._next_key = 0
        self._closed = False
        self.acked_total = 0
        self.refused_total = 0  # publish results paho refused (kept and retried)
        if start:
            self.start(self._io_iteration, name=f"mqtt-pub-{gateway_id}")

    # ---- public API -------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Messages not yet acknowledged by the broker."""
        with self._cond:
            return len(self._waiting) + len(self._handed)

    def publish(self, message: payloads.Message) -> None:
        """Queue one message (QoS 1). Blocks while the buffer is full; never drops."""
        retain = isinstance(message, payloads.GatewayStatus)
        self.publish_raw(topic_for(message), payloads.encode(message), retain=retain)

    def publish_raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Queue pre-encoded bytes on a checked topic (tests, replays)."""
        topics.check_publish_topic(topic)
        with self._cond:
            while True:
                if self._fatal is not None:
                    raise self._fatal
                if self._closed:
                    raise RuntimeError("publisher is closed")
                if len(self._waiting) + len(self._handed) < self.max_buffer:
                    break
                self._cond.wait(0.5)
            self._waiting.append(_Entry(self._next_key, topic, payload, retain))
            self._next_key += 1
            self._cond.notify_all()  # wakes a parked network thread

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until the broker acknowledged every buffered message; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._waiting or self._handed:
                left = deadline - time.monotonic()
                if left <= 0 or self._fatal is not None:
                    return False
                self._cond.wait(min(0.1, left))
            return True

    def close(self, timeout_s: float = 10.0) -> bool:
        """Flush, publish `offline` (retained), disconnect. True when everything was acked."""
        if self._closed:
            return True
        flushed = self.flush(timeout_s)
        if self.connected and self._fatal is None:
            self.publish_raw(self.status_topic, status_payload(self.gateway_id, "offline"), True)
            flushed = self.flush(min(timeout_s, 5.0)) and flushed
        with self._cond:
            self._closed = True
            self._cond.notify_all()  # a parked network thread ends now, not after its park
        self.stop()
        if not flushed:
            log.warning("publisher closed with %d unacknowledged messages", self.pending)
        return flushed

    def abort(self) -> int:
        """Die like a gateway losing power: the connection drops without DISCONNECT (so the
        broker publishes the last will `offline`) and nothing more is sent. Returns how many
        messages were still unacknowledged (they are lost, as on a real power cut)."""
        lost = self.pending
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        self._thread = None
        self.connected = False
        sock = self.client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                # linger 0: close() sends a TCP RST; the broker sees no DISCONNECT
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        return lost

    def __enter__(self) -> GatewayPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- network thread ---------------------------------------------------------------------

    def _io_iteration(self) -> None:
        sent = self._send_waiting()
        with self._cond:
            busy = sent or (self._waiting and not self._paho_full and self.connected)
            idle = (
                self.connected
                and not self._waiting
                and not self._handed
                and not self._closed
                and not self.client.want_write()
            )
            if idle:
                # Nothing to send, no ack due: park instead of polling the socket every 10 ms
                # (many gateways in one process, e.g. the SUMO gateway's 16, would otherwise
                # wake 1,600 times a second and take the GIL from the simulation). Keepalive
                # pings and the broker's packets are still serviced every _IDLE_PARK_S.
                self._cond.wait(_IDLE_PARK_S)
        self.step(0.0 if busy or idle else _IDLE_WAIT_S)

    def _send_waiting(self) -> bool:
        """Hand waiting entries to paho until it refuses one; True if any was handed."""
        sent = False
        while True:
            with self._cond:
                # Only while connected: then nothing goes to paho between a new socket and
                # its CONNECT, and paho's session holds only what it can send.
                if not self._waiting or not self.connected:
                    return sent
                entry = self._waiting.popleft()
            info = self.client.publish(entry.topic, entry.payload, qos=1, retain=entry.retain)
            with self._cond:
                if info.rc in _ACCEPTED:
                    stale = self._handed.get(info.mid)
                    if stale is not None:  # paho reused a mid it no longer holds: lost there
                        self._requeue([stale])
                    self._handed[info.mid] = entry
                    sent = True
                    continue
                self._waiting.appendleft(entry)
                self.refused_total += 1
                self._paho_full = True
                if info.rc != MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                    log.warning("paho refused a publish (%s); kept for retry", info.rc)
                return sent

    def _requeue(self, entries: list[_Entry]) -> None:
        merged = sorted([*entries, *self._waiting], key=lambda e: e.key)
        self._waiting = collections.deque(merged)

    # ---- paho callbacks (network thread; must not raise) ------------------------------------

    def _on_publish(self, client: Any, userdata: Any, mid: int, rc: Any, props: Any) -> None:
        with self._cond:
            if self._handed.pop(mid, None) is not None:
                self.acked_total += 1
                self._paho_full = False
                self._cond.notify_all()

    def _connected(self, session_present: bool) -> None:
        held = paho_pending_mids(self.client)
        with self._cond:
            if held is not None:
                lost = [e for mid, e in self._handed.items() if mid not in held]
                if lost:
                    log.warning("%d unacked messages not held by paho: re-sending", len(lost))
                    self._handed = {m: e for m, e in self._handed.items() if m in held}
                    self._requeue(lost)
            online = _Entry(-1, self.status_topic, status_payload(self.gateway_id, "online"), True)
            self._waiting.appendleft(online)
            self._paho_full = False

    def _disconnected(self) -> None:
        with self._cond:
            self._cond.notify_all()  # flush() callers re-check (e.g. refused credentials)
        if not self._closed:
            log.warning("publisher %s disconnected; reconnecting", self.gateway_id)
