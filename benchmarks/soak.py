"""Soak: the demo pipeline (`citytraffic demo`: mosquitto, influxd, ingest, API, synthetic city)
for `--duration` seconds, watching memory and ingest lag.

    python benchmarks/soak.py --duration 600 [--warmup 30] [--extra-rps 2000] [--json OUT]

The demo runs as a subprocess in a private data dir (its own free API port); its children are
found by parent pid. Every `--sample-s` the RSS of each process is read from /proc. Ingest lag is
measured end to end by a probe gateway: once a second it publishes one reading stamped *now* on
its own site (`SOAKPROBE`) to the demo's broker with QoS 1 and polls InfluxDB until the point is
queryable; lag = queryable - stamped. `--extra-rps` adds a background gateway
(`python -m ingest.loadgen`) publishing numbered past readings at that rate, to soak under load.

Memory growth is the RSS at the end minus the RSS at the end of the warm-up (the demo replays an
hour of history at first). Prints one JSON object: per process rss_mb (start/end/max) and
growth_mb (and per hour), lag_s p50/p95/p99/max over the probes, probes lost, load average.
"""

# ruff: noqa: E402
from __future__ import annotations

import sys
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse
import json
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Any

from citytraffic.messaging import payloads
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.processes import free_port
from citytraffic.storage.influx import InfluxStore
from ingest.convert import time_ns
from ingest.loadgen import past_stream

log = logging.getLogger("bench.soak")
PROBE_SITE = "SOAKPROBE"
ROLES: tuple[tuple[str, str], ...] = (
    ("mosquitto", "mosquitto"),
    ("influxd", "influxd"),
    (" ingest", "ingest"),
    (" api", "api"),
    (" simulate ", "simulator"),
)


def rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def children(parent: int) -> dict[str, int]:
    """role -> pid of the processes whose parent is `parent`."""
    out: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[1]) != parent:
            continue
        for needle, role in ROLES:
            if needle in f" {cmdline} " and role not in out:
                out[role] = int(entry.name)
                break
    return out


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


class Probe:
    """One reading a second, stamped now; records publish-to-queryable lag."""

    def __init__(self, port: int, influx_url: str, database: str) -> None:
        self.publisher = GatewayPublisher("127.0.0.1", port, "soak-probe")
        self.store = InfluxStore(influx_url, database, create_database=False)
        self.lags_s: list[tuple[float, float]] = []  # (monotonic time, lag)
        self.lost = 0
        self.seq = 0

    def once(self, timeout_s: float = 60.0) -> None:
        ts = datetime.now(UTC)
        t = time_ns(ts)
        self.seq += 1
        reading = payloads.DetectorValue(f"{PROBE_SITE}-D1", count=self.seq)
        self.publisher.publish(
            payloads.DetectorBatch("soak-probe", self.seq, PROBE_SITE, ts, 1, [reading])
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.store.count("detector", "seq", t, t + 1, {"site": PROBE_SITE}):
                self.lags_s.append((time.monotonic(), (time.time_ns() - t) / 1e9))
                return
            time.sleep(0.02)
        self.lost += 1

    def close(self) -> None:
        self.publisher.close()
        self.store.close()


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")}
    env["CITYTRAFFIC_DATA_DIR"] = str(workdir)
    argv = [sys.executable, "-m", "citytraffic.cli", "demo", "--duration", str(args.duration + 600)]
    argv += ["--port", str(free_port()), "--broker", "mosquitto", "--store", "influx"]
    demo = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True, cwd=workdir)
    found: dict[str, str] = {}
    assert demo.stdout is not None
    for line in demo.stdout:
        if m := re.search(r"broker: \S+ on 127\.0\.0\.1:(\d+)", line):
            found["port"] = m.group(1)
        if m := re.search(r"store: (http://\S+)", line):
            found["url"] = m.group(1)
        if "citytraffic is running" in line:
            break
    threading.Thread(target=lambda: [None for _ in demo.stdout or []], daemon=True).start()
    extra = None
    if args.extra_rps > 0:
        stream = past_stream(int(args.extra_rps * args.duration) + 1, 8, 100, 16)
        rate = args.extra_rps * stream.messages / stream.readings
        extra_argv = [sys.executable, "-m", "ingest.loadgen", "--port", found["port"]]
        extra_argv += ["--readings", str(stream.readings), "--start-s", str(stream.start_s)]
        extra_argv += ["--per-message", "8..16", "--rate", str(rate)]
        extra = subprocess.Popen(extra_argv, stdout=subprocess.DEVNULL)
    probe = Probe(int(found["port"]), found["url"], "citytraffic")
    samples: list[tuple[float, dict[str, float]]] = []
    started = time.monotonic()
    next_sample = started
    load_start = os.getloadavg()
    try:
        while (now := time.monotonic()) < started + args.duration:
            if demo.poll() is not None:
                raise RuntimeError(f"the demo exited with {demo.returncode}")
            if now >= next_sample:
                pids = children(demo.pid) | ({"extra-gateway": extra.pid} if extra else {})
                samples.append((now - started, {r: v for r, p in pids.items() if (v := rss_mb(p))}))
                next_sample += args.sample_s
            probe.once()
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    finally:
        probe.close()
        if extra is not None:
            extra.kill()
        demo.send_signal(signal.SIGTERM)
        demo.wait(60)
    warm = [s for t, s in samples if t >= args.warmup] or [samples[-1][1]]
    hours = max(args.duration - args.warmup, 1) / 3600
    processes = {}
    for role in sorted({r for _, s in samples for r in s}):
        series = [s[role] for s in warm if role in s]
        processes[role] = {
            "rss_mb_start": round(series[0], 1),
            "rss_mb_end": round(series[-1], 1),
            "rss_mb_max": round(max(series), 1),
            "growth_mb": round(series[-1] - series[0], 1),
            "growth_mb_per_hour": round((series[-1] - series[0]) / hours, 1),
        }
    lags = [lag for at, lag in probe.lags_s if at - started >= args.warmup]
    return {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "extra_rps": args.extra_rps,
        "samples": len(samples),
        "processes": processes,
        "lag_s": {
            "p50": percentile(lags, 0.50),
            "p95": percentile(lags, 0.95),
            "p99": percentile(lags, 0.99),
            "max": round(max(lags), 3) if lags else None,
            "probes": len(lags),
        },
        "probes_lost": probe.lost,
        "load_average": {
            "start": [round(x, 2) for x in load_start],
            "end": [round(x, 2) for x in os.getloadavg()],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds")
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before the baseline")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--extra-rps", type=float, default=0.0, help="background readings/s")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        result = soak(args, Path(tmp))
    text = json.dumps(result)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0 if result["probes_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
