"""`citytraffic demo`: the whole pipeline on one machine, no servers needed.

It starts a broker (mosquitto if it is on PATH, else the pure-Python amqtt), a store (a private
influxd if `influxd` is on PATH or an InfluxDB URL is configured, else the embedded SQLite store),
then the ingest service, the API and the synthetic city simulator as child processes of the
`citytraffic` command, each configured through `CITYTRAFFIC_*` environment variables exactly as in
production. It prints the URL and runs until Ctrl-C, SIGTERM, or `--duration` seconds.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from citytraffic.messaging.broker_process import Broker, start_amqtt, start_mosquitto
from citytraffic.processes import ManagedProcess, free_port, port_open
from citytraffic.settings import Settings
from citytraffic.storage.influx_process import InfluxServer, start_influxd


@dataclass(frozen=True)
class DemoOptions:
    port: int = 8000
    duration_s: float | None = None
    broker: str = "auto"  # auto | mosquitto | amqtt
    store: str = "auto"  # auto | influx | sqlite
    seed: int = 7
    interval_s: int = 20
    history_s: int = 3600
    speedup: float = 300.0
    keep_data: bool = False


class _Stop(Exception):
    pass


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def run_demo(settings: Settings, opts: DemoOptions, say: Callable[[str], None]) -> int:
    workdir = (settings.data_dir / "demo").resolve()
    if workdir.exists() and not opts.keep_data:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    servers: list[ManagedProcess] = []
    children: list[ManagedProcess] = []
    try:
        broker = _start_broker(workdir, opts.broker)
        servers.append(broker)
        say(f"broker: {broker.kind} on 127.0.0.1:{broker.port}")
        env = _child_env(settings, workdir, broker)
        influx = _start_store(settings, workdir, opts.store, env)
        if influx is not None:
            servers.append(influx)
        say(f"store: {env.get('CITYTRAFFIC_INFLUX__URL') or env['CITYTRAFFIC_SQLITE_PATH']}")

        network_path = workdir / "network.geojson"
        _write_demo_network(network_path)
        env["CITYTRAFFIC_NETWORK_FILE"] = str(network_path)
        env["CITYTRAFFIC_API__PORT"] = str(opts.port)

        cli = [sys.executable, "-m", "citytraffic.cli"]
        children.append(
            ManagedProcess("ingest", [*cli, "ingest"], workdir, lambda: True, env=env).start()
        )
        children.append(
            ManagedProcess(
                "api",
                [*cli, "api"],
                workdir,
                lambda: port_open(opts.port),
                ready_timeout_s=60,
                env=env,
            ).start()
        )
        sim_args = [
            *cli,
            "simulate",
            "synthetic",
            "--seed",
            str(opts.seed),
            "--speedup",
            str(opts.speedup),
            "--interval",
            str(opts.interval_s),
            "--history",
            str(opts.history_s),
            "--network",
            str(network_path),
        ]
        children.append(
            ManagedProcess("simulator", sim_args, workdir, lambda: True, env=env).start()
        )
        children.append(
            ManagedProcess(
                "forecaster",
                [*cli, "forecast", "run", "--interval", "60"],
                workdir,
                lambda: True,
                env=env,
            ).start()
        )
        url = f"http://127.0.0.1:{opts.port}"
        say(f"citytraffic is running: {url}  (live conditions: {url}/api/v1/conditions)")
        say(f"operator API key (log in on the dashboard): {_demo_key(settings, workdir)}")
        say(f"logs and data: {workdir}")
        say(
            "press Ctrl-C to stop"
            if opts.duration_s is None
            else f"stopping after {opts.duration_s:.0f} s"
        )
        return _supervise(children, opts.duration_s, say)
    except (KeyboardInterrupt, _Stop):
        say("stopping")
        return 0
    finally:
        # newest first: the simulator and forecaster, the API, the ingest (it drains what the
        # simulator flushed), and only then the broker and the store they all need
        for proc in [*reversed(children), *reversed(servers)]:
            proc.stop()


def _supervise(
    children: list[ManagedProcess], duration_s: float | None, say: Callable[[str], None]
) -> int:
    deadline = None if duration_s is None else time.monotonic() + duration_s
    while deadline is None or time.monotonic() < deadline:
        for child in children:
            if not child.running:
                say(f"{child.name} exited unexpectedly; last log lines:\n{child.tail()}")
                return 1
        time.sleep(0.2)
    say("duration reached, stopping")
    return 0


def _start_broker(workdir: Path, choice: str) -> Broker:
    use_mosquitto = choice == "mosquitto" or (choice == "auto" and shutil.which("mosquitto"))
    if use_mosquitto:
        return start_mosquitto(
            workdir / "mosquitto", free_port(), executable=shutil.which("mosquitto")
        )
    return start_amqtt(workdir / "amqtt", free_port())


def _start_store(
    settings: Settings, workdir: Path, choice: str, env: dict[str, str]
) -> InfluxServer | None:
    """Fill the store part of the child environment; start influxd when that is the choice."""
    if choice != "sqlite" and settings.influx.url:
        env["CITYTRAFFIC_STORE"] = "influx"
        env["CITYTRAFFIC_INFLUX__URL"] = settings.influx.url
        return None
    if choice == "influx" or (choice == "auto" and shutil.which("influxd")):
        server = start_influxd(workdir / "influxd")
        env["CITYTRAFFIC_STORE"] = "influx"
        env["CITYTRAFFIC_INFLUX__URL"] = server.url
        return server
    env["CITYTRAFFIC_STORE"] = "sqlite"
    env["CITYTRAFFIC_SQLITE_PATH"] = str(workdir / "citytraffic.sqlite")
    return None


def _child_env(settings: Settings, workdir: Path, broker: Broker) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")}
    env.update(
        {
            "CITYTRAFFIC_DATA_DIR": str(workdir),
            "CITYTRAFFIC_LOG_LEVEL": settings.log_level,
            "CITYTRAFFIC_MQTT__HOST": "127.0.0.1",
            "CITYTRAFFIC_MQTT__PORT": str(broker.port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _demo_key(settings: Settings, workdir: Path) -> str:
    from api.auth import ensure_demo_operator_key

    return ensure_demo_operator_key(settings.model_copy(update={"data_dir": workdir}))


def _write_demo_network(path: Path) -> None:
    from citytraffic.network_file import save_network
    from simulators.synthetic.city import build_city

    save_network(build_city().network, path)  # the city's layout does not depend on the seed
