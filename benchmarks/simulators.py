"""SUMO gateway benchmark: simulated seconds per wall second, publishing included, against plain
SUMO on the same scenario in the same run.

    python benchmarks/simulators.py [--grid 4x4] [--demand 3000] [--duration 3600] [--repeats 3]
        [--json OUT]

The scenario is the control benchmark's grid (netgenerate, randomTrips, seed 1) with E1 loops on
every incoming lane of every signalised junction. Three runs of the same scenario, each repeated
`--repeats` times (the best of each is reported, with all samples):

- `sumo`: the plain `sumo` binary (headless, the same net, routes and loops; no output files);
- `libsumo`: SUMO stepped in-process from Python, loops sampled every step, nothing published
  (what the gateway costs before MQTT);
- `gateway`: `run_sumo_gateway` at full speed, publishing every junction's detector batches and
  signal states with QoS 1 to a private mosquitto and waiting for every acknowledgement, the plan
  listener on.

Prints one JSON object: sim s per wall s of each, the ratios gateway/sumo and gateway/libsumo,
messages published, and the load average (2 shared cores: the ratio is the figure to compare).
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
import subprocess
import tempfile
import time
from typing import Any

from citytraffic.messaging.broker_process import start_mosquitto
from simulators.sumo.gateway import MAX_SPEEDUP, GatewayStats, run_sumo_gateway
from simulators.sumo.loops import LoopGateway, write_loop_file
from simulators.sumo.scenario import ScenarioSpec
from simulators.sumo.sources import SumoSource, grid_source
from simulators.sumo.tools import binary, sumo_home


def plain_sumo(source: SumoSource, loops: Path, duration_s: int) -> float:
    args = [
        str(binary("sumo")),
        f"--net-file={source.net}",
        f"--route-files={source.routes}",
        f"--additional-files={loops}",
        f"--seed={source.seed}",
        "--begin=0",
        f"--end={duration_s}",
        "--no-step-log",
        "--no-warnings",
        "--duration-log.disable",
    ]
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    began = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - began


def stepped_libsumo(source: SumoSource, loops: Path, duration_s: int) -> float:
    import libsumo

    began = time.perf_counter()
    libsumo.start(
        [
            "sumo",
            f"--net-file={source.net}",
            f"--route-files={source.routes}",
            f"--additional-files={loops}",
            f"--seed={source.seed}",
            "--no-step-log",
            "--no-warnings",
            "--duration-log.disable",
        ]
    )
    try:
        by_site: dict[str, list[str]] = {}
        for sp in source.loops:
            by_site.setdefault(sp.site, []).append(sp.id)
        gw = LoopGateway(by_site, roundtrip=False)
        tl = libsumo.trafficlight
        ids = tl.getIDList()
        t = 0.0
        while t < duration_s:
            libsumo.simulationStep()
            t = libsumo.simulation.getTime()
            gw.sample()
            for tls in ids:  # what the gateway reads per step for signal states
                tl.getRedYellowGreenState(tls)
            if round(t) % 60 == 0:
                gw.read(t, 60)
    finally:
        libsumo.close()
    return time.perf_counter() - began


def gateway_run(source: SumoSource, port: int, duration_s: int) -> tuple[float, GatewayStats]:
    stats = GatewayStats()
    began = time.perf_counter()
    rc = run_sumo_gateway(
        "127.0.0.1", port, source, speedup=MAX_SPEEDUP, duration_s=duration_s, stats=stats
    )
    took = time.perf_counter() - began
    if rc != 0:
        raise RuntimeError(f"gateway run failed (rc {rc})")
    return took, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="4x4")
    parser.add_argument("--demand", type=float, default=3000.0)
    parser.add_argument("--duration", type=int, default=3600)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("var/sumo"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    cols, rows = (int(v) for v in args.grid.lower().split("x"))
    spec = ScenarioSpec(grid_x=cols, grid_y=rows, demand_vph=args.demand, duration_s=args.duration)
    source = grid_source(spec, args.cache)
    samples: dict[str, list[float]] = {"sumo": [], "libsumo": [], "gateway": []}
    messages = 0
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        loops = Path(tmp) / "loops.add.xml"
        write_loop_file(list(source.loops), loops, period_s=60)
        broker = start_mosquitto(Path(tmp) / "mosquitto")
        try:
            for k in range(args.repeats):
                print(f"repeat {k + 1}/{args.repeats}", file=sys.stderr)
                samples["sumo"].append(plain_sumo(source, loops, args.duration))
                samples["libsumo"].append(stepped_libsumo(source, loops, args.duration))
                took, stats = gateway_run(source, broker.port, args.duration)
                samples["gateway"].append(took)
                messages = stats.batches + stats.signal_states
        finally:
            broker.stop()
    rate = {k: args.duration / min(v) for k, v in samples.items()}
    result: dict[str, Any] = {
        "benchmark": "sumo gateway",
        "scenario": {
            "grid": args.grid,
            "demand_vph": args.demand,
            "sim_s": args.duration,
            "signals": len(source.info.tl_links),
            "loops": len(source.loops),
        },
        "sim_s_per_wall_s": {k: round(v, 1) for k, v in rate.items()},
        "ratio_gateway_vs_sumo": round(rate["gateway"] / rate["sumo"], 3),
        "ratio_gateway_vs_libsumo": round(rate["gateway"] / rate["libsumo"], 3),
        "messages_published": messages,
        "wall_s_samples": {k: [round(x, 3) for x in v] for k, v in samples.items()},
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    text = json.dumps(result)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
