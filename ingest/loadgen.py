"""A numbered, verifiable reading stream for integration tests, fault tests and the benchmarks.

Reading number g (0 <= g < n) has distinct values derived from g, so what is stored can be
checked exactly against what was sent: count = g, occupancy = (g % 1000) / 1000,
speed_kmh = 10 + (g % 1500) / 10. Readings travel in the gateway format: one `DetectorBatch` per
junction per interval; message i goes to junction i % junctions at interval i // junctions.
Junction j has `per_message` detectors, or, with `per_message_max`, per_message + j % span
(span = per_message_max - per_message + 1): `8..16` gives every size from 8 to 16. Timestamps
lie in the past (`start_s`, aligned to the interval), as the clock policy requires.

`reconcile()` classifies every reading as stored, lost or duplicated by reading back what the
store holds (`count` = g identifies a reading).

`python -m ingest.loadgen --port P --readings N --start-s S [--per-message 8..16]` publishes
the stream with QoS 1 from its own process (the benchmark's publisher) and prints one JSON line
when the broker has acked everything. The default client is the gateways' `GatewayPublisher`.
`--client lean` (the ingest benchmark's) sends pre-built QoS 1 PUBLISH packets over one plain
socket, up to `--window` unacknowledged, and counts the PUBACKs: no reconnects, no last will,
a small fraction of the CPU per message (the benchmark's gateways share the machine with the
pipeline; real ones do not). With `--ready`, every payload is encoded and the connection is up
before a `{"ready": true}` line is printed; `seconds` and `cpu_s` then count from that line.
"""

from __future__ import annotations

import argparse
import bisect
import json
import socket
import struct
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from citytraffic.messaging import payloads
from ingest.convert import DETECTOR, time_ns

INTERVAL_S = 30
NS = 1_000_000_000


class Reading(NamedTuple):
    """One detector reading as sent (or as read back from the store)."""

    site: str
    detector: str
    time_ns: int
    number: int  # g, the reading's number: its `count` field
    occupancy: float
    speed_kmh: float
    seq: int


@dataclass(frozen=True, slots=True)
class Stream:
    readings: int
    start_s: int
    per_message: int = 12
    junctions: int = 100
    gateway: str = "gw-load"
    per_message_max: int = 0  # 0: every junction has `per_message` detectors
    _prefix: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.readings < 0 or self.per_message < 1 or self.junctions < 1:
            raise ValueError("readings >= 0, per_message >= 1 and junctions >= 1 required")
        if self.per_message_max and self.per_message_max < self.per_message:
            raise ValueError("per_message_max must be >= per_message")
        prefix = [0]
        for j in range(self.junctions):
            prefix.append(prefix[-1] + self.size(j))
        object.__setattr__(self, "_prefix", tuple(prefix))

    def size(self, junction: int) -> int:
        """Detectors of junction j (readings in each of its messages)."""
        span = max(self.per_message_max, self.per_message) - self.per_message + 1
        return self.per_message + junction % span

    def first(self, i: int) -> int:
        """Number of the first reading of message i."""
        rounds, j = divmod(i, self.junctions)
        return rounds * self._prefix[-1] + self._prefix[j]

    @property
    def messages(self) -> int:
        rounds, rest = divmod(self.readings, self._prefix[-1])
        return rounds * self.junctions + bisect.bisect_left(self._prefix, rest, 0, self.junctions)

    @property
    def end_s(self) -> int:
        """Exclusive upper bound of the stream's timestamps (seconds)."""
        return self.start_s + (self.messages // self.junctions + 1) * INTERVAL_S

    @property
    def start_ns(self) -> int:
        return self.start_s * NS

    @property
    def end_ns(self) -> int:
        return self.end_s * NS

    def site(self, i: int) -> str:
        return f"J{i % self.junctions:04d}"

    def ts_s(self, i: int) -> int:
        return self.start_s + (i // self.junctions) * INTERVAL_S

    def message(self, i: int) -> payloads.DetectorBatch:
        site = self.site(i)
        first = self.first(i)
        last = min(first + self.size(i % self.junctions), self.readings)
        return payloads.DetectorBatch(
            gateway=self.gateway,
            seq=i,
            site=site,
            ts=datetime.fromtimestamp(self.ts_s(i), UTC),
            interval_s=INTERVAL_S,
            readings=[
                payloads.DetectorValue(
                    f"{site}-D{g - first:02d}", count=g, occupancy=occupancy(g), speed_kmh=speed(g)
                )
                for g in range(first, last)
            ],
        )

    def iter_messages(self) -> Iterator[payloads.DetectorBatch]:
        for i in range(self.messages):
            yield self.message(i)

    def iter_readings(self) -> Iterator[Reading]:
        for m in self.iter_messages():
            yield from message_readings(m)

    def expected(self) -> dict[tuple[str, str, int], tuple[int, float, float, int]]:
        """(site, detector, time_ns) -> (count, occupancy, speed_kmh, seq) for every reading."""
        return {(r.site, r.detector, r.time_ns): r[3:] for r in self.iter_readings()}


def message_readings(m: payloads.DetectorBatch) -> list[Reading]:
    """The readings of one loadgen message (every value present)."""
    t = time_ns(m.ts)
    out = []
    for r in m.readings:
        assert r.count is not None and r.occupancy is not None and r.speed_kmh is not None
        out.append(Reading(m.site, r.detector, t, r.count, r.occupancy, r.speed_kmh, m.seq))
    return out


def occupancy(g: int) -> float:
    return (g % 1000) / 1000


def speed(g: int) -> float:
    return 10 + (g % 1500) / 10


def past_stream(
    readings: int, per_message: int = 12, junctions: int = 100, per_message_max: int = 0
) -> Stream:
    """A stream whose whole span lies at least ten intervals in the past."""
    probe = Stream(readings, 0, per_message, junctions, per_message_max=per_message_max)
    intervals = probe.messages // junctions + 1
    start_s = (int(time.time()) - (intervals + 10) * INTERVAL_S) // INTERVAL_S * INTERVAL_S
    return Stream(readings, start_s, per_message, junctions, per_message_max=per_message_max)


def parse_per_message(text: str) -> tuple[int, int]:
    """`12` -> (12, 0); `8..16` -> (8, 16)."""
    low, sep, high = text.partition("..")
    return (int(low), int(high)) if sep else (int(low), 0)


# ---- reconciliation ---------------------------------------------------------------------------


class Queryable(Protocol):
    def query(
        self, influxql: str, bind: Mapping[str, str | int | float] | None = None
    ) -> list[dict[str, Any]]: ...


@dataclass
class Reconciliation:
    """Every sent reading classified: stored (exactly one point with its identity and values),
    lost (none). `duplicated` counts the points beyond one per reading: a second point of a
    reading (another time or tag: stored at server time, a changed tag) or a point that no sent
    reading explains. `mismatched` counts points of a reading with other values (also lost)."""

    sent: int
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    mismatched: int = 0
    lost_sample: list[int] = field(default_factory=list)  # reading numbers g
    extra_sample: list[Reading] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.stored == self.sent

    def summary(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "stored": self.stored,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "mismatched": self.mismatched,
            "lost_sample": self.lost_sample[:10],
            "extra_sample": [r._asdict() for r in self.extra_sample[:5]],
        }


_SELECT = (
    'SELECT "count","occupancy","speed_kmh","seq","site","detector" FROM "{m}" '
    "WHERE time >= $start_ns AND time < $end_ns"
)


def stored_readings(
    store: Queryable, start_ns: int, end_ns: int, window_ns: int = 600 * NS, measurement: str = ""
) -> Iterator[Reading]:
    """Every point of the measurement in [start_ns, end_ns), read in time windows."""
    q = _SELECT.format(m=(measurement or DETECTOR).replace('"', '\\"'))
    for t0 in range(start_ns, end_ns, window_ns):
        bind = {"start_ns": t0, "end_ns": min(t0 + window_ns, end_ns)}
        for series in store.query(q, bind):
            for t, count, occ, spd, seq, site, det in series.get("values") or []:
                yield Reading(site, det, int(t), count, occ, spd, seq)


def reconcile(
    store: Queryable,
    sent: Iterable[Reading],
    start_ns: int,
    end_ns: int,
    window_ns: int = 600 * NS,
    horizon_s: int = 366 * 86400,
) -> Reconciliation:
    """Classify every sent reading as stored / lost and count duplicated points.

    Reads [start_ns, end_ns) in windows, and also looks for stray points of the measurement
    from `horizon_s` before `start_ns` to `horizon_s` after now (readings stored at server time,
    or with a shifted timestamp, would be there)."""
    expected: dict[int, Reading] = {r.number: r for r in sent}
    result = Reconciliation(sent=len(expected))
    found: dict[int, int] = {}
    now_ns = time.time_ns()
    before = (start_ns - horizon_s * NS, start_ns)
    after = (end_ns, max(end_ns, now_ns) + horizon_s * NS)
    spans: Sequence[tuple[int, int, int]] = (
        (*before, before[1] - before[0]),
        (start_ns, end_ns, window_ns),
        (*after, after[1] - after[0]),
    )
    for lo, hi, step in spans:
        for row in stored_readings(store, lo, hi, step):
            want = expected.get(row.number) if isinstance(row.number, int) else None
            if want is not None and _same(row, want) and row.number not in found:
                found[row.number] = 1
                continue
            result.duplicated += 1
            if want is not None and not _same(row, want):
                result.mismatched += 1
            if len(result.extra_sample) < 5:
                result.extra_sample.append(row)
    result.stored = len(found)
    lost = [g for g in expected if g not in found]
    result.lost = len(lost)
    result.lost_sample = sorted(lost)[:10]
    return result


def _same(row: Reading, want: Reading) -> bool:
    return (
        row.site == want.site
        and row.detector == want.detector
        and row.time_ns == want.time_ns
        and row.occupancy == want.occupancy
        and row.speed_kmh == want.speed_kmh
        and row.seq == want.seq
    )


# ---- lean QoS 1 publisher (benchmark) -----------------------------------------------------


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, mid: int) -> bytes:
    """An MQTT 3.1.1 PUBLISH packet, QoS 1, not retained."""
    t = topic.encode()
    body = struct.pack(">H", len(t)) + t + struct.pack(">H", mid) + payload
    return b"\x32" + _remaining_length(len(body)) + body


def connect_packet(client_id: str) -> bytes:
    """MQTT 3.1.1 CONNECT, clean session, keepalive 0 (the run is one burst)."""
    cid = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02\x00\x00" + struct.pack(">H", len(cid)) + cid
    return b"\x10" + _remaining_length(len(body)) + body


class LeanPublisher:
    """Publishes pre-built QoS 1 packets over one socket; `window` unacknowledged at most.

    The broker acknowledges QoS 1 messages in the order it received them (MQTT-4.6.0-2), so a
    PUBACK must carry the id of the oldest unacknowledged message: anything else raises."""

    def __init__(self, host: str, port: int, client_id: str, timeout_s: float = 60.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_packet(client_id))
        connack = self._read_exactly(4)
        if connack[0] != 0x20 or connack[3] != 0:
            raise ConnectionError(f"broker refused the connection: CONNACK {connack.hex()}")

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            data += chunk
        return data

    def publish_all(self, packets: Sequence[bytes], mids: Sequence[int], window: int) -> int:
        """Send every packet, waiting for PUBACKs to keep `window` in flight; returns the count
        acknowledged (all of them, else this raises)."""
        sent = acked = 0
        pending = b""
        while acked < len(packets):
            if sent < len(packets) and sent - acked <= window - max(1, window // 10):
                end = min(len(packets), acked + window)
                self.sock.sendall(b"".join(packets[sent:end]))
                sent = end
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("broker closed the connection")
            pending += data
            whole = len(pending) // 4 * 4
            for header, mid in struct.iter_unpack(">HH", pending[:whole]):
                if header != 0x4002 or acked >= sent or mid != mids[acked]:
                    raise ConnectionError(f"unexpected packet {header:04x} (id {mid})")
                acked += 1
            pending = pending[whole:]
        return acked

    def close(self) -> None:
        try:
            self.sock.sendall(b"\xe0\x00")  # DISCONNECT
        finally:
            self.sock.close()


def main(argv: list[str] | None = None) -> int:
    from citytraffic.messaging.publisher import GatewayPublisher, topic_for

    parser = argparse.ArgumentParser(prog="python -m ingest.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--readings", type=int, required=True)
    parser.add_argument("--start-s", type=int, required=True)
    parser.add_argument("--per-message", default="12", help="N, or a range LOW..HIGH (8..16)")
    parser.add_argument("--junctions", type=int, default=100)
    parser.add_argument("--gateway", default="gw-load")
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s, 0 = as fast as acked")
    parser.add_argument("--client", choices=("gateway", "lean"), default="gateway")
    parser.add_argument("--window", type=int, default=1000, help="unacknowledged messages")
    parser.add_argument("--ready", action="store_true", help="encode first, then say ready")
    args = parser.parse_args(argv)
    low, high = parse_per_message(args.per_message)
    stream = Stream(args.readings, args.start_s, low, args.junctions, args.gateway, high)
    if args.client == "lean":
        if args.rate > 0:
            parser.error("--client lean publishes as fast as acked (no --rate)")
        mids = [i % 65535 + 1 for i in range(stream.messages)]
        packets = [
            publish_packet(topic_for(m), payloads.encode(m), mid)
            for m, mid in zip(stream.iter_messages(), mids, strict=True)
        ]
        lean = LeanPublisher(args.host, args.port, f"loadgen-{time.time_ns() % 10**9:09d}")
        started, cpu0 = _ready(args.ready)
        try:
            acked = lean.publish_all(packets, mids, min(args.window, 30_000)) == len(packets)
        finally:
            lean.close()
    else:
        publisher = GatewayPublisher(args.host, args.port, stream.gateway, max_inflight=args.window)
        encoded: Iterable[tuple[str, bytes]] = (
            (topic_for(m), payloads.encode(m)) for m in stream.iter_messages()
        )
        if args.ready:  # encode everything now (memory: the whole stream)
            encoded = list(encoded)
            deadline = time.monotonic() + 30
            while not publisher.connected and time.monotonic() < deadline:
                time.sleep(0.01)
        started, cpu0 = _ready(args.ready)
        try:
            for i, (topic, payload) in enumerate(encoded):
                publisher.publish_raw(topic, payload)
                if args.rate > 0:
                    lag_s = started + i / args.rate - time.perf_counter()
                    if lag_s > 0:
                        time.sleep(lag_s)
            acked = publisher.flush(600)
        finally:
            publisher.close()
    seconds = time.perf_counter() - started
    report = {
        "messages": stream.messages,
        "acked": acked,
        "seconds": round(seconds, 3),
        "cpu_s": round(time.process_time() - cpu0, 3),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0 if acked else 1


def _ready(announce: bool) -> tuple[float, float]:
    """(wall clock, CPU seconds) at the start of publishing; prints the ready line if asked."""
    if announce:
        sys.stdout.write(json.dumps({"ready": True}) + "\n")
        sys.stdout.flush()
        return time.perf_counter(), time.process_time()
    return time.perf_counter(), 0.0


if __name__ == "__main__":
    sys.exit(main())
