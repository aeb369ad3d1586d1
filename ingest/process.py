"""Run the ingest service as a child process (`python -m ingest`), for tests and benchmarks.

Configured only through CITYTRAFFIC_* environment variables, exactly as in production. Ready when
its log says every MQTT subscription was acknowledged (before that, a message published by a
test could reach the broker before the subscription and, on a first start, be lost to us).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from pathlib import Path

from citytraffic.processes import ManagedProcess, free_port

READY_MARK = b"MQTT subscriptions active"


def ingest_env(
    workdir: Path,
    mqtt_port: int,
    influx_url: str | None,
    database: str = "citytraffic",
    client_id: str = "citytraffic-ingest",
    **ingest_options: str | int | float,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")}
    env.update(
        {
            "CITYTRAFFIC_DATA_DIR": str(workdir / "data"),
            "CITYTRAFFIC_MQTT__HOST": "127.0.0.1",
            "CITYTRAFFIC_MQTT__PORT": str(mqtt_port),
            "CITYTRAFFIC_MQTT__CLIENT_ID": client_id,
            "CITYTRAFFIC_INFLUX__DATABASE": database,
            "CITYTRAFFIC_INFLUX__TIMEOUT_S": "5",
            "CITYTRAFFIC_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if influx_url:
        env["CITYTRAFFIC_STORE"] = "influx"
        env["CITYTRAFFIC_INFLUX__URL"] = influx_url
    for key, value in ingest_options.items():
        env[f"CITYTRAFFIC_INGEST__{key.upper()}"] = str(value)
    return env


class IngestProcess(ManagedProcess):
    metrics_port: int

    def metrics(self) -> dict[str, float]:
        """Scrape /metrics: sample name (with labels) -> value."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out

    def metric(self, name: str) -> float:
        """Sum of a metric over its labels (0 when absent)."""
        return sum(v for k, v in self.metrics().items() if k == name or k.startswith(name + "{"))


def start_ingest(
    workdir: Path,
    env: dict[str, str],
    metrics_port: int | None = None,
    stats_interval_s: float = 1.0,
    name: str = "ingest",
) -> IngestProcess:
    """Start `python -m ingest` and wait until it is subscribed."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = metrics_port or free_port()
    argv = [
        sys.executable,
        "-m",
        "ingest",
        "--metrics-port",
        str(port),
        "--stats-interval-s",
        str(stats_interval_s),
    ]
    log_path = workdir / f"{name}.log"
    offset = log_path.stat().st_size if log_path.exists() else 0

    def ready() -> bool:
        try:
            with log_path.open("rb") as f:
                f.seek(offset)
                return READY_MARK in f.read()
        except OSError:
            return False

    proc = IngestProcess(name, argv, workdir, ready, ready_timeout_s=60, env=env)
    proc.metrics_port = port
    proc.start()
    return proc
