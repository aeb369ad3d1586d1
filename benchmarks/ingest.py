"""Ingest benchmark: readings/s from MQTT publish to queryable in InfluxDB, against InfluxDB's own
raw /write rate for the same points.

    python benchmarks/ingest.py --readings 200000 [--per-message 12] [--json OUT]

Starts its own mosquitto and influxd (private dirs, loopback ports). Phase 1 (raw): the same
points as pre-built line protocol, POSTed from one connection in batches of 5,000 into a scratch
database, which is dropped afterwards. Phase 2 (pipeline): `python -m ingest` as a subprocess; a
separate publisher process (`python -m ingest.loadgen`) sends the readings with QoS 1 in the
gateway format (one message per junction per interval, `--per-message` readings each); the clock
runs from the publisher's start until InfluxDB counts all N readings (polled cheaply: the
ingest's own counter first, then `SELECT count(...)` to confirm). Then every stored point is
read back and compared with what was sent (`lost`, `duplicated`). Prints one JSON object.
"""

# ruff: noqa: E402  (sys.path is fixed before the project imports, see below)
from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the `ingest` package it measures: when run as a script its own folder
# comes first on sys.path and would shadow the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import json
import logging
import os
import subprocess
import tempfile
import time

import httpx

from citytraffic.messaging.broker_process import start_mosquitto
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import start_influxd
from ingest.lines import LineBuilder
from ingest.loadgen import Stream, past_stream
from ingest.process import ingest_env, start_ingest

log = logging.getLogger("bench.ingest")
RAW_BATCH = 5000


def raw_influx_rate(url: str, stream: Stream) -> float:
    """Points/s of one connection POSTing pre-built line protocol in batches of 5,000."""
    builder = LineBuilder()
    lines = [line for m in stream.iter_messages() for line in builder.lines(m, 0)]
    bodies = ["\n".join(lines[i : i + RAW_BATCH]).encode() for i in range(0, len(lines), RAW_BATCH)]
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/query", data={"q": "CREATE DATABASE raw"}).raise_for_status()
        params = {"db": "raw", "precision": "ns"}
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/write", params=params, content=body)
            if response.status_code != 204:
                raise RuntimeError(f"raw write answered {response.status_code}: {response.text}")
        seconds = time.perf_counter() - started
        client.post("/query", data={"q": "DROP DATABASE raw"}).raise_for_status()
    return len(lines) / seconds


def cpu_s(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stored_count(store: InfluxStore, stream: Stream) -> int:
    return store.count("detector", "seq", stream.start_s * 10**9, stream.end_s * 10**9)


def compare(store: InfluxStore, stream: Stream) -> tuple[int, int]:
    """(lost, duplicated): expected readings missing or wrong, and points beyond those sent."""
    expected = stream.expected()
    seen: dict[tuple[str, str, int], tuple[object, ...]] = {}
    extra = 0
    step_ns = 600 * 10**9
    for t0 in range(stream.start_s * 10**9, stream.end_s * 10**9, step_ns):
        for r in store.range("detector", t0, t0 + step_ns, limit=10**7):
            key = (r.tags.get("site", ""), r.tags.get("detector", ""), r.time_ns)
            value = tuple(r.fields.get(f) for f in ("count", "occupancy", "speed_kmh", "seq"))
            if key in seen or key not in expected:
                extra += 1
            seen[key] = value
    lost = sum(1 for key, value in expected.items() if seen.get(key) != value)
    return lost, extra


def run(readings: int, per_message: int, workdir: Path, timeout_s: float) -> dict[str, object]:
    stream = past_stream(readings, per_message=per_message, junctions=100)
    broker = start_mosquitto(workdir / "mosquitto")
    influx = start_influxd(workdir / "influxd")
    ingest = None
    try:
        influx_pid = influx.proc.pid if influx.proc else None
        influx_cpu0 = cpu_s(influx_pid)
        raw_rate = raw_influx_rate(influx.url, stream)
        influx_cpu1 = cpu_s(influx_pid)
        raw_cpu = influx_cpu1 - influx_cpu0
        log.info("raw influx rate: %.0f points/s (influxd %.1f CPU s)", raw_rate, raw_cpu)
        env = ingest_env(workdir, broker.port, influx.url, "bench", "bench-ingest")
        ingest = start_ingest(workdir / "ingest", env, stats_interval_s=10)
        store = InfluxStore(influx.url, "bench")
        started = time.perf_counter()
        publisher = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ingest.loadgen",
                "--port",
                str(broker.port),
                "--readings",
                str(readings),
                "--start-s",
                str(stream.start_s),
                "--per-message",
                str(per_message),
                "--junctions",
                str(stream.junctions),
            ],
            stdout=subprocess.PIPE,
        )
        deadline = started + timeout_s
        count = 0
        # Counting in InfluxDB every few ms would load the server under test (a count over the
        # whole range is not cheap): wait for the ingest's own counter, then confirm with
        # InfluxDB until every reading is queryable.
        while time.perf_counter() < deadline:
            if ingest.metric("citytraffic_ingest_readings_stored_total") >= readings:
                break
            time.sleep(0.05)
        while time.perf_counter() < deadline:
            count = stored_count(store, stream)
            if count >= readings:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        out, _ = publisher.communicate(timeout=60)
        log.info("publisher: %s", out.decode().strip())
        log.info(
            "pipeline CPU s: ingest %.1f, influxd %.1f, mosquitto %.1f (load average %s)",
            cpu_s(ingest.proc.pid if ingest.proc else None),
            cpu_s(influx_pid) - influx_cpu1,
            cpu_s(broker.proc.pid if broker.proc else None),
            " ".join(f"{x:.1f}" for x in os.getloadavg()),
        )
        time.sleep(1.0)
        lost, duplicated = compare(store, stream)
        rate = readings / seconds if count >= readings else count / seconds
        store.close()
        ingest.stop()
        return {
            "readings": readings,
            "seconds": round(seconds, 3),
            "rate": round(rate),
            "raw_influx_rate": round(raw_rate),
            "ratio": round(rate / raw_rate, 3),
            "lost": lost,
            "duplicated": duplicated,
        }
    finally:
        if ingest is not None:
            ingest.kill()
        broker.stop()
        influx.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--per-message", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--timeout-s", type=float, default=1800)
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.workdir is not None:
        result = run(args.readings, args.per_message, args.workdir, args.timeout_s)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            result = run(args.readings, args.per_message, Path(tmp), args.timeout_s)
    text = json.dumps(result)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
