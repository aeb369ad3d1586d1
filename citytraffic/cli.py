"""The `citytraffic` command: the composition root. It builds Settings once, wires adapters
(store, broker client, network) and hands them to the services. Service modules never read the
environment themselves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from citytraffic.domain.network import Network
from citytraffic.settings import Settings

if TYPE_CHECKING:
    from simulators.faults import FaultPlan

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="citytraffic: traffic monitoring and signal control (MQTT -> ingest -> store -> API).",
)
simulate_app = typer.Typer(no_args_is_help=True, help="Traffic sources that publish over MQTT.")
forecast_app = typer.Typer(no_args_is_help=True, help="Congestion forecasting.")
network_app = typer.Typer(no_args_is_help=True, help="Network files.")
app.add_typer(simulate_app, name="simulate")
app.add_typer(forecast_app, name="forecast")
app.add_typer(network_app, name="network")
broker_app = typer.Typer(no_args_is_help=True, help="Production broker security files.")
app.add_typer(broker_app, name="broker")
keys_app = typer.Typer(no_args_is_help=True, help="API keys of operator and admin accounts.")
app.add_typer(keys_app, name="keys")
signals_app = typer.Typer(no_args_is_help=True, help="Signal control.")
app.add_typer(signals_app, name="signals")


def _register_optional_commands() -> None:
    """Commands whose modules pull heavy imports register lazily-importing wrappers."""
    from control.benchmark_cli import signals_benchmark, signals_chart
    from forecasting.cli import backtest_command

    forecast_app.command("backtest")(backtest_command)
    signals_app.command("benchmark")(signals_benchmark)
    signals_app.command("chart")(signals_chart)


def build_settings() -> Settings:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def _load_network(settings: Settings) -> Network:
    from citytraffic.network_file import load_network

    if settings.network_file is None:
        return Network(name="empty")
    return load_network(settings.network_file)


@app.command()
def demo(
    duration: Annotated[float | None, typer.Option(help="stop after S seconds")] = None,
    port: Annotated[int, typer.Option(help="API port")] = 8000,
    broker: Annotated[str, typer.Option(help="auto | mosquitto | amqtt")] = "auto",
    store: Annotated[str, typer.Option(help="auto | influx | sqlite")] = "auto",
    seed: Annotated[int, typer.Option(help="simulator seed")] = 7,
    speedup: Annotated[
        float, typer.Option(help="simulated s per wall s while catching up")
    ] = 300.0,
    history: Annotated[int, typer.Option(help="seconds of past traffic to replay first")] = 3600,
) -> None:
    """Run broker, store, ingest, API and the synthetic city on this machine."""
    from citytraffic.demo import DemoOptions, run_demo

    settings = build_settings()
    opts = DemoOptions(
        port=port,
        duration_s=duration,
        broker=broker,
        store=store,
        seed=seed,
        speedup=speedup,
        history_s=history,
    )
    raise typer.Exit(run_demo(settings, opts, say=typer.echo))


@app.command()
def ingest() -> None:
    """Consume gateway messages from MQTT and write them to the store."""
    from citytraffic.storage.factory import open_store
    from ingest.service import run_ingest

    settings = build_settings()
    raise typer.Exit(
        run_ingest(
            settings,
            open_store(settings),
            metrics_port=settings.ingest.metrics_port,
            stats_interval_s=settings.ingest.stats_interval_s,
        )
    )


@app.command()
def api() -> None:
    """Serve the live API (FastAPI)."""
    from api.app import run_api
    from citytraffic.storage.factory import open_store

    settings = build_settings()
    run_api(settings, open_store(settings), _load_network(settings))


FaultsOpt = Annotated[
    str | None,
    typer.Option(
        help="fault spec, e.g. 'stuck:detector=J1-1:N1,at=10m;dead:gateway=gw-J2-2' "
        "or @faults.yaml (docs/simulators.md)"
    ),
]
FaultsOutOpt = Annotated[
    Path | None, typer.Option(help="ground-truth JSONL of every injected fault")
]


def _mqtt_credentials(settings: Settings) -> tuple[str | None, str | None]:
    password = settings.mqtt.password.get_secret_value() if settings.mqtt.password else None
    return settings.mqtt.username, password


def _fault_plan(spec: str | None, out: Path | None, seed: int) -> FaultPlan | None:
    from simulators.faults import FaultSpecError, fault_plan

    try:
        return fault_plan(spec, out, seed)
    except FaultSpecError as exc:
        typer.echo(f"bad --faults: {exc}", err=True)
        raise typer.Exit(2) from None


@simulate_app.command("synthetic")
def simulate_synthetic(
    seed: Annotated[int, typer.Option(help="random seed (same seed, same traffic)")] = 7,
    speedup: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 1.0,
    interval: Annotated[int, typer.Option(help="detector interval in seconds")] = 60,
    history: Annotated[int, typer.Option(help="start this many seconds in the past")] = 0,
    duration: Annotated[float | None, typer.Option(help="simulated seconds, then stop")] = None,
    network: Annotated[Path | None, typer.Option(help="write the city's network file here")] = None,
    faults: FaultsOpt = None,
    faults_out: FaultsOutOpt = None,
) -> None:
    """A grid city at real coordinates publishing detector batches and signal states."""
    from simulators.synthetic.run import run_synthetic

    settings = build_settings()
    username, password = _mqtt_credentials(settings)
    raise typer.Exit(
        run_synthetic(
            settings.mqtt.host,
            settings.mqtt.port,
            seed=seed,
            speedup=speedup,
            interval_s=interval,
            history_s=history or None,
            duration_s=duration,
            network_out=network,
            username=username,
            password=password,
            faults=_fault_plan(faults, faults_out, seed),
        )
    )


@simulate_app.command("metr-la")
def simulate_metr_la(
    data: Annotated[Path, typer.Option(help="folder with los_speed.csv and station locations")],
    speedup: Annotated[float, typer.Option(help="simulated seconds per wall second")] = 1.0,
    mode: Annotated[
        str, typer.Option(help="shift (ends now) | original (2012 timestamps)")
    ] = "shift",
    duration: Annotated[float | None, typer.Option(help="simulated seconds, then stop")] = None,
    network: Annotated[
        Path | None, typer.Option(help="write the stations' network file here")
    ] = None,
    faults: FaultsOpt = None,
    faults_out: FaultsOutOpt = None,
    seed: Annotated[int, typer.Option(help="seed of the fault injector")] = 1,
) -> None:
    """Replay the real METR-LA week of 207 freeway stations (speeds only, km/h) over MQTT."""
    from simulators.metrla import run_metrla

    if mode not in ("shift", "original"):
        typer.echo("--mode must be shift or original", err=True)
        raise typer.Exit(2)
    settings = build_settings()
    username, password = _mqtt_credentials(settings)
    raise typer.Exit(
        run_metrla(
            settings.mqtt.host,
            settings.mqtt.port,
            data_dir=data,
            speedup=speedup,
            mode="shift" if mode == "shift" else "original",
            duration_s=duration,
            network_out=network,
            username=username,
            password=password,
            faults=_fault_plan(faults, faults_out, seed),
        )
    )


@simulate_app.command("sumo")
def simulate_sumo(
    grid: Annotated[
        str, typer.Option(help="netgenerate grid COLSxROWS (Nx1: an arterial); ignored with --net")
    ] = "3x3",
    net: Annotated[Path | None, typer.Option(help="your own SUMO .net.xml instead")] = None,
    routes: Annotated[Path | None, typer.Option(help="route file (default: randomTrips)")] = None,
    demand: Annotated[float, typer.Option(help="randomTrips vehicles per hour")] = 1500.0,
    demand_duration: Annotated[int, typer.Option(help="seconds over which trips start")] = 3600,
    pattern: Annotated[str, typer.Option(help="grid demand: uniform | ew-heavy")] = "uniform",
    seed: Annotated[int, typer.Option(help="SUMO and randomTrips seed")] = 1,
    speedup: Annotated[
        str, typer.Option(help="simulated s per wall s, or 'max' (as fast as SUMO runs)")
    ] = "1",
    interval: Annotated[int, typer.Option(help="detector interval in seconds")] = 60,
    duration: Annotated[
        float | None, typer.Option(help="simulated seconds (default: --demand-duration)")
    ] = None,
    origin: Annotated[
        str, typer.Option(help="LON,LAT where SUMO's (0,0) lies (maps show it there)")
    ] = "16.36,48.20",
    network: Annotated[Path | None, typer.Option(help="write the network file here")] = None,
    loop_report: Annotated[
        Path | None, typer.Option(help="SUMO's own per-interval E1 loop report (XML)")
    ] = None,
    plans: Annotated[
        bool, typer.Option(help="follow the plan topics (accepted timing plans)")
    ] = True,
    cache: Annotated[Path, typer.Option(help="generated SUMO files")] = Path("var/sumo"),
    faults: FaultsOpt = None,
    faults_out: FaultsOutOpt = None,
) -> None:
    """SUMO (libsumo, in-process) publishing its loops and signals as junction gateways do, and
    running the timing plans operators accept."""
    from simulators.sumo.gateway import MAX_SPEEDUP, run_sumo_gateway
    from simulators.sumo.netfile import Origin
    from simulators.sumo.scenario import PATTERNS, ScenarioSpec
    from simulators.sumo.sources import file_source, grid_source
    from simulators.sumo.tools import SumoMissing

    def bad(message: str) -> typer.Exit:
        typer.echo(message, err=True)
        return typer.Exit(2)

    try:
        pace = MAX_SPEEDUP if speedup == "max" else float(speedup)
        lon, lat = (float(v) for v in origin.split(","))
        where = Origin(lon, lat)
        cols, rows = (int(v) for v in grid.lower().split("x"))
    except ValueError:
        raise bad("--speedup must be a number or 'max', --origin LON,LAT, --grid NxM") from None
    if not pace > 0 or pattern not in PATTERNS:
        raise bad(f"--speedup must be > 0 and --pattern one of {', '.join(PATTERNS)}")
    try:
        if net is not None:
            source = file_source(
                net, cache, routes=routes, demand_vph=demand, demand_s=demand_duration, seed=seed
            )
        else:
            spec = ScenarioSpec(
                grid_x=cols,
                grid_y=rows,
                demand_vph=demand,
                duration_s=demand_duration,
                pattern="ew-heavy" if pattern == "ew-heavy" else "uniform",
                seed=seed,
            )
            source = grid_source(spec, cache)
    except (ValueError, RuntimeError, SumoMissing) as exc:
        raise bad(f"cannot build the SUMO scenario: {exc}") from None
    typer.echo(f"SUMO: {source.describe()}")
    settings = build_settings()
    username, password = _mqtt_credentials(settings)
    raise typer.Exit(
        run_sumo_gateway(
            settings.mqtt.host,
            settings.mqtt.port,
            source,
            speedup=pace,
            interval_s=interval,
            duration_s=duration,
            origin=where,
            network_out=network,
            loop_report=loop_report,
            username=username,
            password=password,
            plans=plans,
            faults=_fault_plan(faults, faults_out, seed),
        )
    )


@network_app.command("validate")
def network_validate(path: Path) -> None:
    """Check a network file; list every problem."""
    from citytraffic.domain.errors import NetworkError
    from citytraffic.network_file import load_network

    try:
        net = load_network(path)
    except NetworkError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{path}: ok ({len(net.sites)} sites, {len(net.links)} links, "
        f"{len(net.detectors)} detectors, {len(net.gateways)} gateways)"
    )


@broker_app.command("acl")
def broker_acl(
    network: Annotated[Path, typer.Option(help="network file whose gateways get users")],
    ingest_user: str = "ingest",
    control_user: str = "control",
) -> None:
    """Print the mosquitto ACL: each gateway writes only its own sites' topics."""
    from citytraffic.messaging.broker_security import render_acl
    from citytraffic.network_file import load_network

    typer.echo(render_acl(load_network(network), ingest_user, control_user), nl=False)


@broker_app.command("passwd")
def broker_passwd(
    user: str, password: Annotated[str, typer.Option(prompt=True, hide_input=True)]
) -> None:
    """Print a mosquitto password-file line ($7$ PBKDF2-SHA512) for USER."""
    from citytraffic.messaging.broker_security import password_line

    typer.echo(password_line(user, password))


@forecast_app.command("run")
def forecast_run(
    interval: Annotated[int, typer.Option(help="seconds between forecast runs")] = 300,
    horizons: Annotated[str, typer.Option(help="minutes ahead, comma-separated")] = "5,15,30,60",
    once: Annotated[bool, typer.Option(help="forecast once and exit")] = False,
) -> None:
    """Forecast every detector from the store each interval and write forecasts back."""
    from citytraffic.storage.factory import open_store
    from forecasting.live import run_forecaster

    settings = build_settings()
    try:
        horizons_min = [int(h) for h in horizons.split(",") if h.strip()]
    except ValueError:
        typer.echo("--horizons must be whole minutes, e.g. 5,15,30,60", err=True)
        raise typer.Exit(2) from None
    run_forecaster(
        open_store(settings),
        _load_network(settings),
        interval_s=interval,
        horizons_min=horizons_min,
        once=once,
    )


@app.command("map")
def map_export(
    out: Annotated[Path, typer.Option(help="HTML file to write (standalone, works offline)")],
    at: Annotated[str | None, typer.Option(help="RFC 3339 time with offset (default: now)")] = None,
    window: Annotated[int, typer.Option(help="seconds of readings before --at")] = 3 * 3600,
    tiles: Annotated[str, typer.Option(help="osm | none | XYZ tile URL template")] = "osm",
) -> None:
    """Write the map of the network (LOS, incidents, detector health, congestion heat) at a time."""
    from datetime import UTC, datetime

    from citytraffic.map_export import write_map
    from citytraffic.storage.factory import open_store

    settings = build_settings()
    try:
        when = datetime.fromisoformat(at) if at else datetime.now(UTC)
    except ValueError:
        typer.echo(f"--at {at!r} is not an RFC 3339 time", err=True)
        raise typer.Exit(2) from None
    if when.tzinfo is None:
        typer.echo("--at needs a UTC offset, e.g. 2026-11-22T08:00:00Z", err=True)
        raise typer.Exit(2)
    size = write_map(
        open_store(settings), _load_network(settings), out, when, window_s=window, tiles=tiles
    )
    typer.echo(f"{out}: {size} bytes")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="account name, e.g. alice")],
    role: Annotated[str, typer.Option(help="operator | admin")] = "operator",
) -> None:
    """Create an API key; the plain key is printed once and stored only as a SHA-256 digest."""
    from api.auth import create_api_key

    typer.echo(create_api_key(build_settings(), name, role))


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, accounts, roles, revoked); never the keys themselves."""
    from api.auth import list_api_keys

    for record in list_api_keys(build_settings()):
        typer.echo(str(record))


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id."""
    from api.auth import revoke_api_key

    if not revoke_api_key(build_settings(), key_id):
        typer.echo(f"no key {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


def main() -> None:
    _register_optional_commands()
    app()


if __name__ == "__main__":
    main()
