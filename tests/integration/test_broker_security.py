"""The production broker configuration (deploy/mosquitto/) enforced by a real mosquitto: a gateway
can publish only as its own sites, cannot subscribe to `#`, the ingest user is read-only, and
anonymous or wrong-password clients are refused. MQTT 5 is used so refusals carry reason codes."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from citytraffic.domain.network import Gateway, Network, Site, SiteKind
from citytraffic.messaging.broker_process import run_as_line
from citytraffic.messaging.broker_security import (
    SecureBrokerPaths,
    password_line,
    render_acl,
    render_mosquitto_conf,
)
from citytraffic.processes import ManagedProcess, find_executable, free_port, port_open

pytestmark = pytest.mark.integration

USERS = {"gw-a": "pw-a-8f2c", "gw-b": "pw-b-19de", "ingest": "pw-ingest-77", "control": "pw-c-5"}
NETWORK = Network(
    name="acl-test",
    sites=(Site("A1", SiteKind.JUNCTION, 2.35, 48.85), Site("B1", SiteKind.JUNCTION, 2.36, 48.86)),
    gateways=(Gateway("gw-a", ("A1",)), Gateway("gw-b", ("B1",))),
)


@dataclass
class SecureBroker:
    tls_port: int
    local_port: int
    ca_file: Path


def _make_certs(d: Path) -> None:
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        str(d / "ca.key"),
        "-out",
        str(d / "ca.crt"),
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(d / "server.key"),
        "-out",
        str(d / "server.csr"),
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        str(d / "server.csr"),
        "-CA",
        str(d / "ca.crt"),
        "-CAkey",
        str(d / "ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        str(d / "san.ext"),
        "-out",
        str(d / "server.crt"),
    )


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    _make_certs(tmp_path)
    paths = SecureBrokerPaths(
        password_file=str(tmp_path / "passwd"),
        acl_file=str(tmp_path / "acl"),
        ca_file=str(tmp_path / "ca.crt"),
        cert_file=str(tmp_path / "server.crt"),
        key_file=str(tmp_path / "server.key"),
        persistence_dir=f"{tmp_path}/",
    )
    (tmp_path / "passwd").write_text("\n".join(password_line(u, p) for u, p in USERS.items()))
    (tmp_path / "acl").write_text(render_acl(NETWORK))
    tls_port, local_port = free_port(), free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        render_mosquitto_conf(paths, tls_port=tls_port, local_port=local_port) + run_as_line()
    )
    exe = find_executable("mosquitto")
    assert exe, "mosquitto must be installed (make test installs it)"
    proc = ManagedProcess(
        "mosquitto",
        [exe, "-c", str(conf)],
        tmp_path,
        lambda: port_open(tls_port) and port_open(local_port),
    ).start()
    yield SecureBroker(tls_port, local_port, tmp_path / "ca.crt")
    proc.stop()


@dataclass
class Peer:
    client: mqtt.Client
    connect_rc: list[ReasonCode] = field(default_factory=list)
    received: list[tuple[str, bytes]] = field(default_factory=list)
    subacks: list[list[ReasonCode]] = field(default_factory=list)
    pubacks: dict[int, ReasonCode] = field(default_factory=dict)
    event: threading.Event = field(default_factory=threading.Event)


def _peer(broker: SecureBroker, user: str | None, password: str | None, tls: bool = True) -> Peer:
    c = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"t-{user}-{time.monotonic_ns()}",
        protocol=mqtt.MQTTv5,
    )
    peer = Peer(c)
    if user is not None:
        c.username_pw_set(user, password)
    if tls:
        c.tls_set(ca_certs=str(broker.ca_file), cert_reqs=ssl.CERT_REQUIRED)

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: ReasonCode, _p: object) -> None:
        peer.connect_rc.append(rc)
        peer.event.set()

    c.on_connect = on_connect
    c.on_message = lambda _c, _u, m: peer.received.append((m.topic, m.payload))
    c.on_subscribe = lambda _c, _u, _mid, rcs, _p: peer.subacks.append(list(rcs))
    c.on_publish = lambda _c, _u, mid, rc, _p: peer.pubacks.__setitem__(mid, rc)
    port = broker.tls_port if tls else broker.local_port
    with contextlib.suppress(ConnectionRefusedError, OSError):
        c.connect("127.0.0.1", port)
    c.loop_start()
    peer.event.wait(10)
    return peer


def _wait(cond: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not cond():  # type: ignore[operator]
        time.sleep(0.05)


def _close(*peers: Peer) -> None:
    for p in peers:
        p.client.loop_stop()
        p.client.disconnect()


def test_anonymous_and_wrong_password_are_refused(secure_broker: SecureBroker) -> None:
    anon = _peer(secure_broker, None, None)
    wrong = _peer(secure_broker, "gw-a", "not-the-password")
    try:
        assert anon.connect_rc and anon.connect_rc[0].is_failure
        assert wrong.connect_rc and wrong.connect_rc[0].is_failure
    finally:
        _close(anon, wrong)


def test_gateway_publishes_only_as_its_own_site(secure_broker: SecureBroker) -> None:
    ingest = _peer(secure_broker, "ingest", USERS["ingest"])
    gw_a = _peer(secure_broker, "gw-a", USERS["gw-a"])
    try:
        assert not ingest.connect_rc[0].is_failure and not gw_a.connect_rc[0].is_failure
        ingest.client.subscribe("traffic/v1/site/+/detectors", qos=1)
        _wait(lambda: ingest.subacks)
        assert not ingest.subacks[0][0].is_failure
        own = gw_a.client.publish("traffic/v1/site/A1/detectors", b"own", qos=1)
        other = gw_a.client.publish("traffic/v1/site/B1/detectors", b"spoofed", qos=1)
        _wait(lambda: own.mid in gw_a.pubacks and other.mid in gw_a.pubacks)
        assert not gw_a.pubacks[own.mid].is_failure
        assert gw_a.pubacks[other.mid].is_failure  # 0x87 not authorised
        _wait(lambda: ingest.received, 3)
        time.sleep(0.5)
        assert ingest.received == [("traffic/v1/site/A1/detectors", b"own")]
    finally:
        _close(ingest, gw_a)


def test_gateway_cannot_read_everything(secure_broker: SecureBroker) -> None:
    gw_a = _peer(secure_broker, "gw-a", USERS["gw-a"])
    gw_b = _peer(secure_broker, "gw-b", USERS["gw-b"])
    control = _peer(secure_broker, "control", USERS["control"])
    try:
        gw_a.client.subscribe(
            [("#", 1), ("traffic/v1/site/A1/plan", 1), ("traffic/v1/site/B1/plan", 1)]
        )
        _wait(lambda: gw_a.subacks)
        wildcard, own_plan, other_plan = gw_a.subacks[0]
        assert not own_plan.is_failure
        gw_b.client.publish("traffic/v1/site/B1/detectors", b"from-b", qos=1)
        control.client.publish("traffic/v1/site/B1/plan", b"plan-b", qos=1)
        control.client.publish("traffic/v1/site/A1/plan", b"plan-a", qos=1)
        _wait(lambda: gw_a.received, 3)
        time.sleep(0.5)
        # mosquitto grants the '#' SUBACK but filters every delivery through the read ACL: gw-a
        # gets its own plan (once per matching subscription) and nothing of site B.
        assert set(gw_a.received) == {("traffic/v1/site/A1/plan", b"plan-a")}
        print(f"SUBACK for '#': {wildcard}, for another site's plan: {other_plan}")
    finally:
        _close(gw_a, gw_b, control)


def test_ingest_user_is_read_only(secure_broker: SecureBroker) -> None:
    ingest = _peer(secure_broker, "ingest", USERS["ingest"])
    try:
        info = ingest.client.publish("traffic/v1/site/A1/plan", b"x", qos=1)
        _wait(lambda: info.mid in ingest.pubacks)
        assert ingest.pubacks[info.mid].is_failure
    finally:
        _close(ingest)


def test_committed_config_is_the_rendered_one() -> None:
    committed = Path(__file__).parents[2] / "deploy" / "mosquitto" / "mosquitto.conf"
    assert committed.read_text() == render_mosquitto_conf()
