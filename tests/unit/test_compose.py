"""docker-compose.yml checked statically (no Docker engine here): valid YAML, pinned images, every
command a real `citytraffic` subcommand with real options, every CITYTRAFFIC_* variable a real
Settings field, ports that match the settings, healthchecks and healthy dependencies, and a
mosquitto configuration with the limits docs/mqtt.md asks for."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml
from pydantic import BaseModel

from citytraffic.cli import app
from citytraffic.network_file import dumps_network
from citytraffic.settings import Settings
from simulators.synthetic.city import build_city

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APP_SERVICES = ("ingest", "api", "simulator")


def _mosquitto_conf() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (ROOT / "deploy/compose/mosquitto.conf").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            out.setdefault(key, []).append(value.strip())
    return out


def _env(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    assert isinstance(env, dict), f"{service}: use the mapping form of environment"
    return {k: str(v) for k, v in env.items()}


def _container_port(service: str, host_side: bool = False) -> list[int]:
    ports = []
    for spec in SERVICES[service].get("ports", []):
        parts = str(spec).split(":")
        assert len(parts) == 3 and parts[0] == "127.0.0.1", f"{service}: publish on 127.0.0.1"
        ports.append(int(parts[1] if host_side else parts[2]))
    return ports


def test_the_services_are_there() -> None:
    assert {"mosquitto", "influxdb", *APP_SERVICES} <= set(SERVICES)
    assert SERVICES["simulator"].get("profiles") == ["sim"]
    for name in ("mosquitto", "influxdb", "ingest", "api"):
        assert not SERVICES[name].get("profiles"), f"{name} must run without a profile"


def test_images_are_pinned() -> None:
    assert re.fullmatch(r"eclipse-mosquitto:2\.0\.\d+", SERVICES["mosquitto"]["image"])
    assert re.fullmatch(r"influxdb:1\.8\.\d+", SERVICES["influxdb"]["image"])
    for name, svc in SERVICES.items():
        image = svc.get("image", "")
        assert ":" in image and not image.endswith(":latest"), name
    froms = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert froms == ["python:3.11-slim"]
    assert "pip install ." in (ROOT / "Dockerfile").read_text()


def test_app_services_share_one_image_built_from_the_dockerfile() -> None:
    images = set()
    for name in APP_SERVICES:
        svc = SERVICES[name]
        assert svc["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        images.add(svc["image"])
    assert len(images) == 1
    assert (ROOT / "Dockerfile").is_file()


def _cli_command(argv: list[str]) -> tuple[Any, list[str]]:
    """Walk the typer app's click command tree along argv; return the leaf command and the rest.

    Duck-typed: typer >= 0.20 ships its own copy of click, so isinstance checks against the
    installed click package do not hold."""
    assert argv[0] == "citytraffic"
    command: Any = typer.main.get_command(app)
    rest = argv[1:]
    while hasattr(command, "commands"):
        assert rest, f"{argv}: a group needs a subcommand"
        sub = command.commands.get(rest[0])
        assert sub is not None, (
            f"`{' '.join(argv)}`: {rest[0]!r} is not a subcommand "
            f"(have: {sorted(command.commands)})"
        )
        command, rest = sub, rest[1:]
    return command, rest


@pytest.mark.parametrize("service", APP_SERVICES)
def test_service_command_is_a_real_cli_subcommand(service: str) -> None:
    argv = [str(a) for a in SERVICES[service]["command"]]
    command, rest = _cli_command(argv)
    # parse the options exactly as the CLI would (unknown options and bad values raise), without
    # running the command
    ctx = command.make_context(argv[-1 - len(rest)], list(rest))
    assert not ctx.args, f"{service}: unexpected arguments {ctx.args}"
    given = {a.partition("=")[0] for a in rest if a.startswith("--")}
    known = {opt for p in command.params for opt in p.opts}
    assert given <= known


def test_expected_subcommands_exist() -> None:
    for argv in (
        ["citytraffic", "ingest"],
        ["citytraffic", "api"],
        ["citytraffic", "demo"],
        ["citytraffic", "simulate", "synthetic"],
        ["citytraffic", "network", "validate"],
    ):
        _cli_command(argv)


def _field(model: type[BaseModel], path: list[str]) -> None:
    name = path[0]
    assert name in model.model_fields, f"no settings field {name!r} in {model.__name__}"
    if len(path) > 1:
        sub = model.model_fields[name].annotation
        assert isinstance(sub, type) and issubclass(sub, BaseModel), f"{name} is not a section"
        _field(sub, path[1:])


@pytest.mark.parametrize("service", APP_SERVICES)
def test_environment_names_are_real_settings(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _env(service)
    names = [k for k in env if k.startswith("CITYTRAFFIC_")]
    assert names, f"{service}: configured through CITYTRAFFIC_* variables"
    assert all(k.startswith("CITYTRAFFIC_") for k in env), f"{service}: foreign variable"
    for key in names:
        _field(Settings, key.removeprefix("CITYTRAFFIC_").lower().split("__"))
    # and the values parse: the service would start with these settings
    settings = _settings_of(service, monkeypatch, tmp_path)
    assert settings.mqtt.host == "mosquitto"
    assert settings.store_backend == "influx"


def _settings_of(service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no stray .env file
    for key in [k for k in os.environ if k.startswith("CITYTRAFFIC_")]:
        monkeypatch.delenv(key)
    for key, value in _env(service).items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_ports_match_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    api = _settings_of("api", monkeypatch, tmp_path)
    assert api.api.host == "0.0.0.0"  # reachable from the published port
    assert _container_port("api") == [api.api.port]
    ingest = _settings_of("ingest", monkeypatch, tmp_path)
    assert _container_port("mosquitto") == [ingest.mqtt.port]
    assert _mosquitto_conf()["listener"] == [f"{ingest.mqtt.port} 0.0.0.0"]
    assert ingest.influx.url == "http://influxdb:8086"
    assert _container_port("influxdb") == [8086]
    assert SERVICES["influxdb"]["environment"]["INFLUXDB_DB"] == ingest.influx.database
    healthcheck = " ".join(SERVICES["api"]["healthcheck"]["test"])
    assert f"127.0.0.1:{api.api.port}/health" in healthcheck


def test_every_service_has_a_healthcheck_and_waits_for_healthy_dependencies() -> None:
    for name, svc in SERVICES.items():
        test = svc.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name}: healthcheck"
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in SERVICES, f"{name}: unknown dependency {dep}"
            assert cond == {"condition": "service_healthy"}, f"{name} -> {dep}"
            assert not SERVICES[dep].get("profiles"), f"{name} depends on profiled {dep}"
    assert {"mosquitto", "influxdb"} <= set(SERVICES["ingest"]["depends_on"])
    assert "influxdb" in SERVICES["api"]["depends_on"]
    assert "mosquitto" in SERVICES["simulator"]["depends_on"]


def test_mosquitto_config_raises_the_limits_and_persists() -> None:
    conf = _mosquitto_conf()
    assert conf["set_tcp_nodelay"] == ["true"]
    assert int(conf["max_queued_messages"][0]) >= 100_000  # 2.0 default 1000 drops silently
    assert int(conf["max_inflight_messages"][0]) > 20  # 2.0 default 20
    assert conf["persistence"] == ["true"]
    assert conf["persistence_location"] == ["/mosquitto/data/"]
    mounts = SERVICES["mosquitto"]["volumes"]
    assert "./deploy/compose/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" in mounts
    assert any(str(v).endswith(":/mosquitto/data") for v in mounts)


def test_network_file_is_mounted_and_matches_the_synthetic_city() -> None:
    for name in ("ingest", "api"):
        path = _env(name)["CITYTRAFFIC_NETWORK_FILE"]
        assert f"./deploy/compose/network.geojson:{path}:ro" in SERVICES[name]["volumes"]
    committed = (ROOT / "deploy/compose/network.geojson").read_text()
    assert committed == dumps_network(build_city().network), (
        "deploy/compose/network.geojson is stale: regenerate it with "
        "dumps_network(build_city().network)"
    )
