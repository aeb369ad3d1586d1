"""API throughput and latency: `/api/v1/conditions` and `/feeds/road-status.geojson` against a
trivial endpoint (`/health`) of the same app in the same run, on a network of >= 1,000 links.

The server is `run_api` (uvicorn, one process) on a SQLite store holding three recent readings
of every detector of a synthetic grid city; it runs in its own process with the production
defaults (snapshot refresh every 2 s, live engines on). The load comes from another process:
`--clients` concurrent keep-alive HTTP/1.1 connections (a minimal asyncio client, so the load
generator costs little CPU) hammering one path at a time for `--seconds`, in `--rounds`
interleaved rounds after a warm-up. The benchmark client is exempt from the public rate limit
through configuration (`feeds.trusted_clients = ["127.0.0.1/32"]`), not code.

Prints ONE JSON object: requests/s, p50/p99 latency and bytes per response of each path, and the
throughput of each path as a ratio of the trivial endpoint's (target: the feed >= 0.5). The
machine has 2 cores shared with other work: absolute figures move with the load; the ratios,
measured in the same run and interleaved, are the figure to read.

    .venv/bin/python benchmarks/api.py [--rows 14 --cols 17] [--clients 8] [--seconds 4]
        [--rounds 3] [--gzip]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

# This file is named like the package it measures: drop its own folder from the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import httpx  # noqa: E402

from citytraffic.processes import free_port, wait_until  # noqa: E402

TRIVIAL = "/health"
PATHS = (TRIVIAL, "/api/v1/conditions", "/feeds/road-status.geojson")
NS = 1_000_000_000
CAVEAT = (
    "2 CPU cores shared with other engineers' jobs; server and load generator share them too. "
    "Absolute requests/s vary run to run; the ratios come from interleaved rounds of one run."
)


# -- server --------------------------------------------------------------------------------
def build_data(workdir: Path, rows: int, cols: int) -> dict[str, int]:
    from citytraffic.network_file import save_network
    from citytraffic.storage.points import Point, make_tags
    from citytraffic.storage.sqlite import SqliteStore
    from simulators.synthetic.city import CityConfig, build_city

    network = build_city(replace(CityConfig(), rows=rows, cols=cols)).network
    save_network(network, workdir / "network.geojson")
    store = SqliteStore(workdir / "store.sqlite")
    now_ns = (time.time_ns() // (60 * NS)) * 60 * NS
    points = []
    for i, d in enumerate(network.detectors):
        for k in range(3):
            speed = 15.0 + (i * 7 + k * 3) % 40
            count = 6 + (i + k) % 9
            fields: dict[str, float | int | str | bool] = {
                "count": count,
                "occupancy": round(min(0.9, count * 3600 / 60 / speed * 7.5 / 1000), 4),
                "speed_kmh": speed,
                "interval_s": 60,
                "quality": "ok",
                "seq": k,
                "gateway": f"gw-{d.site}",
            }
            tags = make_tags(site=d.site, detector=d.id)
            points.append(Point("detector", tags, fields, now_ns - (2 - k) * 60 * NS))
    store.write(points)
    store.close()
    return {"links": len(network.links), "detectors": len(network.detectors)}


def serve(workdir: Path, port: int) -> None:
    from api.app import run_api
    from citytraffic.network_file import load_network
    from citytraffic.settings import ApiSettings, FeedSettings, Settings
    from citytraffic.storage.sqlite import SqliteStore

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=workdir,
        log_level="WARNING",
        api=ApiSettings(port=port),
        feeds=FeedSettings(trusted_clients=["127.0.0.1/32"]),  # type: ignore[list-item]
    )
    run_api(
        settings, SqliteStore(workdir / "store.sqlite"), load_network(workdir / "network.geojson")
    )


# -- load generator ------------------------------------------------------------------------
class _Client(asyncio.Protocol):
    """One keep-alive connection sending GETs back to back; counts the body, keeps nothing."""

    def __init__(self, request: bytes, stop_at: float, out: dict[str, Any]) -> None:
        self.request, self.stop_at, self.out = request, stop_at, out
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.head = b""
        self.remaining: int | None = None
        self.started = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self._send()

    def _send(self) -> None:
        if time.perf_counter() >= self.stop_at:
            self.transport.close()
            return
        self.head, self.remaining, self.started = b"", None, time.perf_counter()
        self.transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.remaining is None:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, body = self.head[:end], self.head[end + 4 :]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if head[9:12] != b"200":
                self.out["errors"] += 1
            self.out["bytes"] = length
            self.remaining = length - len(body)
        else:
            self.remaining -= len(data)
        if self.remaining <= 0:
            self.out["latencies"].append(time.perf_counter() - self.started)
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _worker(port: int, path: str, gzip: bool, stop_at: float, out: dict[str, Any]) -> None:
    encoding = "Accept-Encoding: gzip\r\n" if gzip else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{encoding}\r\n".encode()
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(
        lambda: _Client(request, stop_at, out), "127.0.0.1", port
    )
    await client.done


async def _load(port: int, path: str, clients: int, seconds: float, gzip: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"latencies": [], "bytes": 0, "errors": 0}
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(*(_worker(port, path, gzip, stop_at, out) for _ in range(clients)))
    out["elapsed_s"] = time.perf_counter() - started
    return out


def load(
    port: int, paths: list[str], clients: int, seconds: float, rounds: int, gzip: bool
) -> None:
    """Runs in its own process; prints {path: {requests, elapsed_s, latencies...}} as JSON."""
    for path in paths:  # warm-up
        asyncio.run(_load(port, path, clients, 1.0, gzip))
    results: dict[str, dict[str, Any]] = {p: {"latencies": [], "elapsed_s": 0.0} for p in paths}
    for _ in range(rounds):
        for path in paths:
            got = asyncio.run(_load(port, path, clients, seconds, gzip))
            r = results[path]
            r["latencies"] += got["latencies"]
            r["elapsed_s"] += got["elapsed_s"]
            r["bytes"] = got["bytes"]
            r["errors"] = r.get("errors", 0) + got["errors"]
    print(json.dumps(results))


# -- orchestration -------------------------------------------------------------------------
def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    lat = sorted(raw["latencies"])
    cuts = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "requests": len(lat),
        "requests_per_s": round(len(lat) / raw["elapsed_s"], 1),
        "p50_ms": round(cuts[49] * 1000, 2),
        "p99_ms": round(cuts[98] * 1000, 2),
        "bytes_per_response": raw["bytes"],
        "non_200": raw["errors"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=14)
    parser.add_argument("--cols", type=int, default=17)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.port)
        return 0
    if args.load:
        load(args.port, list(PATHS), args.clients, args.seconds, args.rounds, args.gzip)
        return 0

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        sizes = build_data(workdir, args.rows, args.cols)
        port = free_port()
        me = [sys.executable, str(Path(__file__).resolve())]
        server = subprocess.Popen([*me, "--serve", str(workdir), "--port", str(port)], env=env)
        try:

            def up() -> bool:
                try:
                    body = httpx.get(f"http://127.0.0.1:{port}/api/v1/conditions", timeout=2)
                    return body.status_code == 200 and len(body.json()["links"]) > 0
                except (httpx.HTTPError, ValueError):
                    return server.poll() is not None

            wait_until(up, 120, "the API")
            if server.poll() is not None:
                return 1
            command = [*me, "--load", "--port", str(port), "--clients", str(args.clients)]
            command += ["--seconds", str(args.seconds), "--rounds", str(args.rounds)]
            command += ["--gzip"] if args.gzip else []
            started = time.monotonic()
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
            wall_s = time.monotonic() - started
        finally:
            server.terminate()
            server.wait(30)
    endpoints = {path: summarise(raw) for path, raw in json.loads(out.stdout).items()}
    trivial = endpoints[TRIVIAL]["requests_per_s"]
    ratios = {
        p: round(e["requests_per_s"] / trivial, 3) for p, e in endpoints.items() if p != TRIVIAL
    }
    feed_ratio = ratios["/feeds/road-status.geojson"]
    print(
        json.dumps(
            {
                "benchmark": "api",
                **sizes,
                "clients": args.clients,
                "seconds_per_round": args.seconds,
                "rounds": args.rounds,
                "accept_encoding": "gzip" if args.gzip else "identity",
                "server": "uvicorn, 1 process (run_api), snapshot refresh 2 s, live engines on",
                "trivial_endpoint": TRIVIAL,
                "endpoints": endpoints,
                "throughput_ratio_to_trivial": ratios,
                "target": {"feed_ratio_min": 0.5, "met": feed_ratio >= 0.5},
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "load_wall_s": round(wall_s, 1),
                "caveat": CAVEAT,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
