"""run_api serves over real HTTP (uvicorn) in its own process and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api.testing import key_headers
from citytraffic.processes import free_port, wait_until
from citytraffic.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"

SERVER = """
import sys, time
from pathlib import Path
from api.app import run_api
from api.testing import reading_point
from citytraffic.network_file import load_network
from citytraffic.settings import ApiSettings, Settings
from citytraffic.storage.sqlite import SqliteStore

port, db, network = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
store = SqliteStore(db)
store.write([reading_point("J1", "J1-W-1", time.time_ns() - 10**10, count=4)])
settings = Settings(data_dir=Path(sys.argv[4]), api=ApiSettings(port=port, snapshot_refresh_s=0.2))
run_api(settings, store, load_network(network))
print("stopped cleanly", flush=True)
"""


def test_run_api_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    # /metrics is operator-only: a key in the server's data dir
    headers = key_headers(Settings(data_dir=tmp_path / "data"))
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER,
            str(port),
            str(tmp_path / "s.sqlite"),
            str(EXAMPLE),
            str(tmp_path / "data"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(lambda: up() or proc.poll() is not None, 60, "api")
        assert proc.poll() is None, (tmp_path / "api.log").read_text()
        conditions = httpx.get(f"{base}/api/v1/conditions", timeout=5).json()
        assert [(d["detector"], d["count"]) for d in conditions["detectors"]] == [("J1-W-1", 4)]
        assert httpx.get(f"{base}/api/v1/network", timeout=5).json()["type"] == "FeatureCollection"

        def refreshes() -> float:
            text = httpx.get(f"{base}/metrics", headers=headers, timeout=5).text
            line = next(
                ln
                for ln in text.splitlines()
                if ln.startswith("citytraffic_api_snapshot_refreshes_total ")
            )
            return float(line.split()[-1])

        # the start-up refresh and at least one from the background task
        wait_until(lambda: refreshes() >= 2, 60, "a background snapshot refresh")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "stopped cleanly" in (tmp_path / "api.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
