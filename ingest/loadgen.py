"""A numbered, verifiable reading stream for integration tests and the ingest benchmark.

Reading number g (0 <= g < n) has distinct values derived from g, so what is stored can be
checked exactly against what was sent: count = g, occupancy = (g % 1000) / 1000,
speed_kmh = 10 + (g % 1500) / 10. Readings travel in the gateway format: one `DetectorBatch` per
junction per interval with `per_message` detectors; message i goes to junction i % junctions at
interval i // junctions. Timestamps lie in the past (`start_s`, aligned to the interval), as the
clock policy requires.

`python -m ingest.loadgen --port P --readings N --start-s S` publishes the stream with QoS 1 from
its own process (the benchmark's publisher) and prints one JSON line when the broker has acked
everything.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from citytraffic.messaging import payloads
from ingest.convert import time_ns

INTERVAL_S = 30


@dataclass(frozen=True, slots=True)
class Stream:
    readings: int
    start_s: int
    per_message: int = 12
    junctions: int = 100
    gateway: str = "gw-load"

    @property
    def messages(self) -> int:
        return -(-self.readings // self.per_message)

    @property
    def end_s(self) -> int:
        """Exclusive upper bound of the stream's timestamps (seconds)."""
        return self.start_s + (self.messages // self.junctions + 1) * INTERVAL_S

    def site(self, i: int) -> str:
        return f"J{i % self.junctions:04d}"

    def ts_s(self, i: int) -> int:
        return self.start_s + (i // self.junctions) * INTERVAL_S

    def message(self, i: int) -> payloads.DetectorBatch:
        site = self.site(i)
        first = i * self.per_message
        last = min(first + self.per_message, self.readings)
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

    def expected(self) -> dict[tuple[str, str, int], tuple[int, float, float, int]]:
        """(site, detector, time_ns) -> (count, occupancy, speed_kmh, seq) for every reading."""
        out = {}
        for m in self.iter_messages():
            t = time_ns(m.ts)
            for r in m.readings:
                assert r.count is not None and r.occupancy is not None and r.speed_kmh is not None
                out[(m.site, r.detector, t)] = (r.count, r.occupancy, r.speed_kmh, m.seq)
        return out


def occupancy(g: int) -> float:
    return (g % 1000) / 1000


def speed(g: int) -> float:
    return 10 + (g % 1500) / 10


def past_start_s(readings: int, per_message: int, junctions: int) -> int:
    """A start time such that the whole stream lies at least ten intervals in the past."""
    intervals = -(-readings // per_message) // junctions + 1
    now = int(time.time())
    return (now - (intervals + 10) * INTERVAL_S) // INTERVAL_S * INTERVAL_S


def past_stream(readings: int, per_message: int = 12, junctions: int = 100) -> Stream:
    start_s = past_start_s(readings, per_message, junctions)
    return Stream(readings, start_s, per_message, junctions)


def main(argv: list[str] | None = None) -> int:
    from citytraffic.messaging.publisher import GatewayPublisher

    parser = argparse.ArgumentParser(prog="python -m ingest.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--readings", type=int, required=True)
    parser.add_argument("--start-s", type=int, required=True)
    parser.add_argument("--per-message", type=int, default=12)
    parser.add_argument("--junctions", type=int, default=100)
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s, 0 = as fast as acked")
    args = parser.parse_args(argv)
    stream = Stream(args.readings, args.start_s, args.per_message, args.junctions)
    started = time.perf_counter()
    publisher = GatewayPublisher(args.host, args.port, stream.gateway, max_inflight=1000)
    try:
        for i, message in enumerate(stream.iter_messages()):
            publisher.publish(message)
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
        "cpu_s": round(time.process_time(), 3),
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0 if acked else 1


if __name__ == "__main__":
    sys.exit(main())
