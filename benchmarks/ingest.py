"""Ingest benchmark: readings/s from MQTT publish to queryable in InfluxDB, in the gateway format,
beside one reading per message, beside two ingest processes on a shared subscription, beside
InfluxDB's own raw /write rate for the same points.

    python benchmarks/ingest.py --readings 1000000 --per-message 8..16 [--single-readings N]
        [--no-single] [--no-shared] [--publisher lean|gateway] [--py-spy OUT.txt
        [--py-spy-rate HZ]] [--json OUT]

Starts its own mosquitto and influxd (private dirs, loopback ports). Raw: the points as pre-built
line protocol, POSTed from one connection in batches of 5,000 into a scratch database. Each
pipeline run: `python -m ingest` subprocess(es) with their own database and client ids; a separate
publisher process (`python -m ingest.loadgen --ready`) sends the numbered readings with QoS 1;
the clock runs from the publisher's "ready" (payloads encoded, connected) until InfluxDB counts
every reading (the ingests' own counters first, then `SELECT count(...)` to confirm).

The load generator stands in for gateways, which in production are separate machines; here it
shares the 2 cores with the pipeline, so its CPU is taken from ingest and influxd. Like the raw
run, which POSTs line protocol built before its clock starts, the pipeline run therefore builds
its payloads before the clock and, by default (`--publisher lean`), sends them as pre-built
QoS 1 PUBLISH packets from a minimal client (~0.2 ms CPU per 1,000 readings, where
`GatewayPublisher` (`--publisher gateway`) takes ~15 ms: paho per message, plus paho's scan of
its in-flight messages on every PUBACK). Everything from the broker on is the production path.

Then every stored point is read back and every reading classified as stored, lost or duplicated
(`ingest.loadgen.reconcile`). The runs:

- main: `--readings` in the gateway format (`--per-message`, a range LOW..HIGH or N, per junction);
- single: `--single-readings` (default min(readings, 100,000)) with one reading per message;
- shared: `--readings` again, gateway format, 2 ingest processes in one `$share` group.

CPU seconds per 1,000 readings of each process (ingest, influxd, mosquitto, publisher) are
reported, with the load average: on a shared machine the rate says little without them.
Prints one JSON object; the top-level readings/seconds/rate/lost/duplicated are the main run's.
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
import shutil
import subprocess
import tempfile
import time
from typing import Any

import httpx

from citytraffic.messaging.broker_process import Broker, start_mosquitto
from citytraffic.processes import ManagedProcess
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer, start_influxd
from ingest.lines import LineBuilder
from ingest.loadgen import Stream, parse_per_message, past_stream, reconcile
from ingest.process import IngestProcess, ingest_env, start_ingest

log = logging.getLogger("bench.ingest")
RAW_BATCH = 5000
TARGET_RPS = 25_000
STORED = "citytraffic_ingest_readings_stored_total"


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


def cpu_s(proc: ManagedProcess | subprocess.Popen[bytes] | None) -> float:
    """CPU seconds (user + system) a process has used so far."""
    popen = proc.proc if isinstance(proc, ManagedProcess) else proc
    if popen is None:
        return 0.0
    try:
        fields = Path(f"/proc/{popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def start_py_spy(pid: int, out: Path, rate_hz: int = 50) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        log.warning("py-spy not found (pip install py-spy): no profile")
        return None
    argv = [exe, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate_hz)]
    argv += ["-o", str(out)]
    return subprocess.Popen([*argv, "--nonblocking"], stdout=subprocess.DEVNULL)


def run_pipeline(
    broker: Broker,
    influx: InfluxServer,
    workdir: Path,
    name: str,
    stream: Stream,
    ingests: int,
    timeout_s: float,
    py_spy: Path | None = None,
    py_spy_rate_hz: int = 50,
    publisher_client: str = "lean",
) -> dict[str, Any]:
    """One end-to-end run into database `name`; returns its figures."""
    procs: list[IngestProcess] = []
    for k in range(ingests):
        env = ingest_env(workdir / f"{name}-{k}", broker.port, influx.url, name, f"{name}-{k}")
        if ingests > 1:
            env["CITYTRAFFIC_MQTT__SHARE_GROUP"] = name
        procs.append(start_ingest(workdir / f"{name}-{k}" / "ingest", env, stats_interval_s=10))
    store = InfluxStore(influx.url, name)
    spy = None
    if py_spy and procs[0].proc:
        spy = start_py_spy(procs[0].proc.pid, py_spy, py_spy_rate_hz)
    per_message = f"{stream.per_message}..{stream.per_message_max or stream.per_message}"
    argv = [sys.executable, "-m", "ingest.loadgen", "--port", str(broker.port), "--ready"]
    argv += ["--readings", str(stream.readings), "--start-s", str(stream.start_s)]
    argv += ["--per-message", per_message, "--junctions", str(stream.junctions)]
    argv += ["--client", publisher_client]
    publisher = subprocess.Popen(argv, stdout=subprocess.PIPE)
    count = 0
    try:
        # The clock starts once the publisher has encoded its payloads and connected.
        assert publisher.stdout is not None
        if json.loads(publisher.stdout.readline() or b"{}").get("ready") is not True:
            raise RuntimeError("the publisher did not get ready")
        cpu0 = {
            "ingest": sum(cpu_s(p) for p in procs),  # start-up (imports) is not per reading
            "influxd": cpu_s(influx),
            "mosquitto": cpu_s(broker),
        }
        load_start = load_average()
        started = time.perf_counter()
        deadline = started + timeout_s
        # Counting in InfluxDB every few ms would load the server under test: wait for the
        # ingests' own counters, then confirm with InfluxDB until every reading is queryable.
        while time.perf_counter() < deadline:
            if sum(p.metric(STORED) for p in procs) >= stream.readings:
                break
            time.sleep(0.25)  # a scrape costs the ingest CPU: 20/s took ~8% of its samples
        while time.perf_counter() < deadline:
            count = store.count("detector", "seq", stream.start_ns, stream.end_ns)
            if count >= stream.readings:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        load_end = load_average()
        cpu = {
            "ingest": sum(cpu_s(p) for p in procs) - cpu0["ingest"],
            "influxd": cpu_s(influx) - cpu0["influxd"],
            "mosquitto": cpu_s(broker) - cpu0["mosquitto"],
        }
        out, _ = publisher.communicate(timeout=120)
        cpu["publisher"] = json.loads(out.decode().strip().splitlines()[-1])["cpu_s"]
        if spy is not None:
            spy.send_signal(2)
            spy.wait(60)
        time.sleep(1.0)
        result = reconcile(store, stream.iter_readings(), stream.start_ns, stream.end_ns)
        for p in procs:
            p.stop()
    finally:
        publisher.kill()
        for p in procs:
            p.kill()
        store.close()
    rate = (stream.readings if count >= stream.readings else count) / seconds
    return {
        "readings": stream.readings,
        "messages": stream.messages,
        "per_message": per_message,
        "ingest_processes": ingests,
        "seconds": round(seconds, 3),
        "rate": round(rate),
        "lost": result.lost,
        "duplicated": result.duplicated,
        "cpu_s_per_1000_readings": {
            k: round(v * 1000 / stream.readings, 3) for k, v in cpu.items()
        },
        "load_average": {"start": load_start, "end": load_end},
    }


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    low, high = parse_per_message(args.per_message)
    stream = past_stream(args.readings, low, 100, high)
    broker = start_mosquitto(workdir / "mosquitto")
    influx = start_influxd(workdir / "influxd")
    try:
        raw_rate = raw_influx_rate(influx.url, stream)
        log.info("raw influx rate: %.0f points/s (load average %s)", raw_rate, load_average())
        timeout_s = args.timeout_s
        client = args.publisher
        main = run_pipeline(
            broker,
            influx,
            workdir,
            "bench",
            stream,
            1,
            timeout_s,
            args.py_spy,
            args.py_spy_rate,
            client,
        )
        log.info("main run: %s", main)
        out: dict[str, Any] = {
            "readings": main["readings"],
            "seconds": main["seconds"],
            "rate": main["rate"],
            "raw_influx_rate": round(raw_rate),
            "ratio": round(main["rate"] / raw_rate, 3),
            "lost": main["lost"],
            "duplicated": main["duplicated"],
            "per_message": main["per_message"],
            "publisher": client,
            "main": main,
        }
        if args.single:
            n = args.single_readings or min(args.readings, 100_000)
            single = past_stream(n, 1, 100)
            out["single"] = run_pipeline(
                broker, influx, workdir, "single", single, 1, timeout_s, publisher_client=client
            )
            log.info("single run: %s", out["single"])
        if args.shared:
            out["shared"] = run_pipeline(
                broker, influx, workdir, "shared", stream, 2, timeout_s, publisher_client=client
            )
            log.info("shared run: %s", out["shared"])
        best = max(r["rate"] for r in (main, out.get("shared", main)))
        out["target_rps"] = TARGET_RPS
        out["target_met"] = bool(best >= TARGET_RPS and main["lost"] == 0)
        out["cores"] = os.cpu_count()
        return out
    finally:
        broker.stop()
        influx.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--per-message", default="12", help="N, or a range per junction: 8..16")
    parser.add_argument("--single-readings", type=int, default=0, help="default min(N, 100000)")
    parser.add_argument("--no-single", dest="single", action="store_false")
    parser.add_argument("--no-shared", dest="shared", action="store_false")
    parser.add_argument("--py-spy", type=Path, default=None, help="profile the main run's ingest")
    parser.add_argument("--py-spy-rate", type=int, default=50, help="samples/s")
    parser.add_argument(
        "--publisher",
        choices=("lean", "gateway"),
        default="lean",
        help="load generator client: pre-built packets on a plain socket, or GatewayPublisher",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    parser.add_argument("--timeout-s", type=float, default=1800)
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.workdir is not None:
        result = run(args, args.workdir)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            result = run(args, Path(tmp))
    text = json.dumps(result)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    runs = [result["main"], result.get("single"), result.get("shared")]
    return 0 if all(r["lost"] == 0 and r["duplicated"] == 0 for r in runs if r) else 1


if __name__ == "__main__":
    sys.exit(main())
