"""Start a private MQTT broker: mosquitto when installed, else amqtt (pure Python).

mosquitto 2.0 defaults drop QoS 1 messages beyond 1000 queued per client and allow 20 in flight;
the config written here raises both, turns on TCP_NODELAY and persistence (autosaved often), and
listens on 127.0.0.1 only. amqtt is the fallback for machines without mosquitto: memory only (no
persistence across restarts), no shared subscriptions, slower; see docs/mqtt.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from citytraffic.processes import ManagedProcess, find_executable, free_port, port_open

MOSQUITTO_TUNING = """\
set_tcp_nodelay true
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 10000
max_inflight_bytes 0
max_packet_size 1048576
persistent_client_expiration 7d
"""


def run_as_line() -> str:
    """A private broker started by root keeps root: it must read and write our temp dirs
    (mosquitto otherwise drops to the `mosquitto` user, which cannot, and persistence fails)."""
    return "user root\n" if os.geteuid() == 0 else ""


def mosquitto_config(
    port: int, data_dir: Path, persistence: bool = True, extra: str = "", anonymous: bool = True
) -> str:
    lines = [f"listener {port} 127.0.0.1", MOSQUITTO_TUNING, run_as_line()]
    if anonymous:
        lines.append("allow_anonymous true")
    if persistence:
        lines += [
            "persistence true",
            f"persistence_location {data_dir}/",
            "autosave_interval 1",
            "autosave_on_changes false",
        ]
    else:
        lines.append("persistence false")
    lines += ["log_dest stdout", "log_type error", "log_type warning", "log_type notice"]
    return "\n".join(lines) + "\n" + extra


class Broker(ManagedProcess):
    kind: str
    port: int


def start_mosquitto(
    workdir: Path,
    port: int | None = None,
    persistence: bool = True,
    extra_config: str = "",
    anonymous: bool = True,
    executable: str | None = None,
) -> Broker:
    exe = executable or find_executable("mosquitto")
    if exe is None:
        raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(mosquitto_config(port, workdir, persistence, extra_config, anonymous))
    broker = Broker("mosquitto", [exe, "-c", str(conf)], workdir, lambda: port_open(port))
    broker.kind, broker.port = "mosquitto", port
    return broker.start()  # type: ignore[return-value]


def start_amqtt(workdir: Path, port: int | None = None) -> Broker:
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "amqtt.yaml"
    conf.write_text(
        "listeners:\n  default:\n    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "    max_connections: 1000\n"
        "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    argv = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(conf)]
    broker = Broker("amqtt", argv, workdir, lambda: port_open(port), ready_timeout_s=60)
    broker.kind, broker.port = "amqtt", port
    return broker.start()  # type: ignore[return-value]


def start_broker(workdir: Path, port: int | None = None, prefer: str = "auto") -> Broker:
    """mosquitto if available (or required), else amqtt."""
    if prefer == "mosquitto" or (prefer == "auto" and find_executable("mosquitto")):
        return start_mosquitto(workdir / "mosquitto", port)
    return start_amqtt(workdir / "amqtt", port)
