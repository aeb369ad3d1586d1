"""The README's first command on a machine without servers: `citytraffic demo` with mosquitto and
influxd hidden from PATH must fall back to amqtt + SQLite and serve live per-detector data."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from citytraffic.processes import free_port


def _run_demo(
    tmp_path: Path, env: dict[str, str], duration_s: int
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = {**env, "CITYTRAFFIC_DATA_DIR": str(tmp_path / "var")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "citytraffic.cli",
            "demo",
            "--duration",
            str(duration_s),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, port


def _wait_for_detectors(
    proc: subprocess.Popen[str], port: int, wait_s: float
) -> tuple[dict, float]:
    started = time.monotonic()
    deadline = started + wait_s
    body: dict = {}
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/api/v1/conditions", timeout=2)
            if r.status_code == 200:
                body = r.json()
                if body.get("detectors"):
                    return body, time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return body, time.monotonic() - started


def _kill_group(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _hidden_servers_env() -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")} | {
        "PATH": venv_bin
    }


def test_demo_without_servers_serves_live_conditions(tmp_path: Path) -> None:
    env = _hidden_servers_env()
    proc, port = _run_demo(tmp_path, env, duration_s=60)
    try:
        body, waited_s = _wait_for_detectors(proc, port, wait_s=55)
        assert body.get("detectors"), (
            f"no live data; demo output:\n{proc.stdout.read() if proc.poll() is not None else ''}"
        )
        first = body["detectors"][0]
        assert {"site", "detector", "ts", "age_s", "speed_kmh", "count", "occupancy"} <= set(first)
        assert body["generated_at"]
        out, _ = proc.communicate(timeout=60)
    finally:
        _kill_group(proc)
    assert proc.returncode == 0, out
    assert "broker: amqtt" in out
    assert "citytraffic.sqlite" in out
    print(f"demo without servers: first per-detector data after {waited_s:.1f} s")


@pytest.mark.integration
def test_demo_with_mosquitto_and_influxd(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")}
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/usr/bin"
    proc, port = _run_demo(tmp_path, env, duration_s=100)
    try:
        body, _ = _wait_for_detectors(proc, port, wait_s=55)
        assert body.get("detectors")
        proc.send_signal(signal.SIGTERM)  # the other way a demo ends: cleanly on SIGTERM
        out, _ = proc.communicate(timeout=60)
    finally:
        _kill_group(proc)
    assert proc.returncode == 0, out
    assert "broker: mosquitto" in out
    assert "store: http://127.0.0.1:" in out
