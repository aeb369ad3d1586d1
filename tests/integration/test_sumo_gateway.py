"""The SUMO gateway through a real mosquitto and the real ingest into a real influxd.

- 15 simulated minutes of a 3x3 grid: every stored count equals what SUMO's own E1 report says
  for that loop and interval (`nVehEntered`), and the totals match; signal states are stored.
- An accepted plan on the plan topic (retained, as the API publishes it) is run by the junction
  with the plan's green times; an expired plan is not run; a plan that fails validation is refused.
"""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citytraffic.domain.network import Junction
from citytraffic.messaging import payloads
from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.topics import site_topic
from citytraffic.network_file import load_network
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from control.plans import adaptive_message, iso, validate_plan
from ingest.process import ingest_env, start_ingest
from simulators.sumo.gateway import MAX_SPEEDUP, GatewayStats, run_sumo_gateway
from simulators.sumo.netfile import derive_network
from simulators.sumo.scenario import ScenarioSpec
from simulators.sumo.sources import SumoSource, grid_source

pytestmark = [pytest.mark.integration, pytest.mark.sumo]

NS = 1_000_000_000
INTERVAL_S = 60
RUN_S = 900


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SumoSource:
    spec = ScenarioSpec(grid_x=3, grid_y=3, demand_vph=1500, duration_s=RUN_S, seed=3)
    return grid_source(spec, tmp_path_factory.mktemp("sumo"))


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def sumo_report(path: Path, start: datetime) -> dict[tuple[str, int], int]:
    """(loop id, interval end in ns) -> nVehEntered, from SUMO's own E1 output."""
    out: dict[tuple[str, int], int] = {}
    for iv in ET.parse(path).getroot().iter("interval"):
        end_ns = int((start + timedelta(seconds=float(iv.get("end", "0")))).timestamp()) * NS
        out[(iv.get("id", ""), end_ns)] = int(iv.get("nVehEntered", "-1"))
    return out


def test_fifteen_minutes_of_sumo_are_stored_as_sumo_counted_them(
    tmp_path: Path, mosquitto: Broker, influxd_session: InfluxServer, source: SumoSource
) -> None:
    database = "sumo_gateway"
    ingest = start_ingest(
        tmp_path / "ingest", ingest_env(tmp_path, mosquitto.port, influxd_session.url, database)
    )
    store = InfluxStore(influxd_session.url, database)
    start = datetime.fromtimestamp((time.time() // INTERVAL_S - 20) * INTERVAL_S, UTC)
    stats = GatewayStats()
    try:
        rc = run_sumo_gateway(
            "127.0.0.1",
            mosquitto.port,
            source,
            speedup=MAX_SPEEDUP,
            interval_s=INTERVAL_S,
            duration_s=RUN_S,
            start=start,
            network_out=tmp_path / "sumo.geojson",
            loop_report=tmp_path / "e1.xml",
            stats=stats,
        )
        assert rc == 0
        n_loops = len(source.loops)
        expected_points = n_loops * RUN_S // INTERVAL_S
        lo, hi = int(start.timestamp()) * NS, int(start.timestamp() + RUN_S + 1) * NS
        wait_for(
            lambda: store.count("detector", "count", lo, hi) >= expected_points,
            90,
            "every loop reading in InfluxDB",
        )
        wait_for(
            lambda: store.count("signal", "state", lo, hi) >= stats.signal_states,
            30,
            "every signal state in InfluxDB",
        )
        stored = store.range("detector", lo, hi, limit=expected_points + 100)
        signals = store.range("signal", lo, hi, limit=stats.signal_states + 100)
        ingest.stop()
    finally:
        ingest.kill()
        store.close()

    report = sumo_report(tmp_path / "e1.xml", start)
    assert len(report) == expected_points
    got = {(r.tags["detector"], r.time_ns): r.fields["count"] for r in stored}
    assert len(stored) == expected_points  # no duplicate, no extra point
    assert got == report  # every loop, every interval: the count SUMO reports
    totals: dict[str, int] = {}
    for (det, _), n in report.items():
        totals[det] = totals.get(det, 0) + n
    assert totals == stats.loop_totals
    assert sum(totals.values()) > 1000  # traffic flowed through the loops

    network = load_network(tmp_path / "sumo.geojson")
    assert {r.tags["site"] for r in stored} == {s.id for s in network.sites}
    assert {d.id for d in network.detectors} == {sp.id for sp in source.loops}
    # junctions at real coordinates next to the default origin (Vienna)
    assert all(16.3 < s.lon < 16.5 and 48.1 < s.lat < 48.3 for s in network.sites)
    # a signal state per change; the local (SUMO) program, phases named as the junction's
    assert len(signals) == stats.signal_states > 9
    assert {r.fields["plan"] for r in signals} == {"0"}
    assert {r.fields["phase"] for r in signals} >= {"P1", "P1-yellow", "P2", "P2-yellow"}


def network_greens(source: SumoSource, tls: str) -> list[str]:
    program = source.info.programs[tls]
    return [s for s in program.phase_states if "y" not in s.lower() and any(c in "Gg" for c in s)]


def publish_retained(port: int, topic: str, body: dict[str, object]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-centre")
    client.connect("127.0.0.1", port)
    client.loop_start()
    info = client.publish(topic, json.dumps(body).encode(), qos=1, retain=True)
    info.wait_for_publish(10)
    assert info.is_published()
    client.disconnect()
    client.loop_stop()


class SignalCollector:
    def __init__(self, port: int) -> None:
        self.states: list[dict[str, object]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-signals")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(
            "traffic/v1/site/+/signal", qos=1
        )
        self.client.on_message = lambda c, u, m: self.states.append(json.loads(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def plan_for(
    junction: Junction, version: int, greens: tuple[float, float], frm: datetime, s: float
) -> dict[str, object]:
    p1, p2 = junction.phases
    return {
        "type": "plan",
        "site": junction.site,
        "version": version,
        "valid_from": iso(frm),
        "valid_until": iso(frm + timedelta(seconds=s)),
        "cycle_s": greens[0] + greens[1] + 6.0,
        "yellow_s": 3.0,
        "all_red_s": 0.0,
        "suggestion": "test",
        "phases": [
            {"id": "P1", "signal_groups": list(p1.signal_groups), "green_s": greens[0]},
            {"id": "P2", "signal_groups": list(p2.signal_groups), "green_s": greens[1]},
        ],
    }


def test_accepted_plans_are_run_expired_and_invalid_ones_are_not(
    tmp_path: Path, mosquitto: Broker, source: SumoSource
) -> None:
    network, _ = derive_network(source.info, source.loops)
    junction = {j.site: j for j in network.junctions}
    start = datetime.fromtimestamp((time.time() // INTERVAL_S - 10) * INTERVAL_S, UTC)
    hour = timedelta(hours=1)
    good = plan_for(junction["B1"], 7, (20.0, 40.0), start - hour, 6 * 3600)
    expired = plan_for(junction["A0"], 2, (30.0, 30.0), start - timedelta(days=3), 3600)
    invalid = plan_for(junction["C2"], 4, (1.0, 40.0), start - hour, 6 * 3600)  # < min green
    assert validate_plan(junction["B1"], good) == []
    assert validate_plan(junction["A0"], expired) == []
    assert validate_plan(junction["C2"], invalid) != []
    adaptive = adaptive_message("A1", 3, start - hour, 6 * 3600)
    for body in (good, expired, invalid, adaptive):
        publish_retained(mosquitto.port, site_topic(str(body["site"]), "plan"), body)
    collector = SignalCollector(mosquitto.port)
    stats = GatewayStats()
    try:
        rc = run_sumo_gateway(
            "127.0.0.1",
            mosquitto.port,
            source,
            speedup=MAX_SPEEDUP,
            duration_s=400,
            start=start,
            stats=stats,
        )
        assert rc == 0
        wait_for(lambda: len(collector.states) >= stats.signal_states, 20, "the signal states")
    finally:
        collector.stop()
    by_site: dict[str, list[dict[str, object]]] = {}
    for st in collector.states:
        by_site.setdefault(str(st["site"]), []).append(st)
    b1 = by_site["B1"]
    assert {s["plan"] for s in b1} >= {"0", "citytraffic-v7"}
    ours = [s for s in b1 if s["plan"] == "citytraffic-v7"]
    # the plan's own greens: P1 green for 20 s, P2 for 40 s, yellow 3 s
    times = [datetime.fromisoformat(str(s["ts"]).replace("Z", "+00:00")) for s in ours]
    lengths = {
        (str(a["phase"])): (t2 - t1).total_seconds()
        for a, t1, t2 in zip(ours, times, times[1:], strict=False)
    }
    assert lengths["P1"] == 20.0 and lengths["P2"] == 40.0 and lengths["P1-yellow"] == 3.0
    assert {s["plan"] for s in by_site["A0"]} == {"0"}  # expired: local program
    assert {s["plan"] for s in by_site["C2"]} == {"0"}  # refused: local program
    assert stats.plans_applied == 1 and stats.plans_refused == 1
    # adaptive: citytraffic's controller drives A1 with safe transitions (yellow 3 s, then the
    # next green; minimum green 5 s), taking over during a green of the local program
    a1 = [s for s in by_site["A1"] if s["plan"] == "citytraffic-adaptive"]
    assert stats.adaptive_orders == 1 and len(a1) >= 6
    greens = set(network_greens(source, "A1"))
    a1_times = [datetime.fromisoformat(str(s["ts"]).replace("Z", "+00:00")) for s in a1]
    for st, t1, t2 in zip(a1, a1_times, a1_times[1:], strict=False):
        held = (t2 - t1).total_seconds()
        if str(st["phase"]).endswith("-yellow"):
            assert held == 3.0 and "y" in str(st["state"])
        else:
            assert st["state"] in greens and held >= 5.0
    assert a1[0]["state"] in greens


class Recorder:
    """A publisher that keeps every encoded message (no broker: for comparing runs)."""

    def __init__(self, sink: list[bytes]) -> None:
        self.sink = sink

    def publish(self, message: payloads.Message) -> None:
        self.sink.append(payloads.encode(message))

    def flush(self, timeout_s: float = 30.0) -> bool:
        return True

    def close(self, timeout_s: float = 10.0) -> bool:
        return True


def test_same_seed_and_start_give_the_same_messages(tmp_path: Path, source: SumoSource) -> None:
    start = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)

    def run(src: SumoSource) -> list[bytes]:
        sink: list[bytes] = []
        rc = run_sumo_gateway(
            "127.0.0.1",
            1,  # never contacted: recording publishers, no plan listener
            src,
            speedup=MAX_SPEEDUP,
            duration_s=300,
            start=start,
            plans=False,
            publisher_factory=lambda gw: Recorder(sink),
        )
        assert rc == 0
        return sink

    first, second = run(source), run(source)
    assert len(first) > 50 and first == second
    other = grid_source(
        ScenarioSpec(grid_x=3, grid_y=3, demand_vph=1500, duration_s=RUN_S, seed=4),
        tmp_path / "cache",
    )
    assert run(other) != first


def test_the_plan_listener_refuses_garbage_and_keeps_the_newest_plan(mosquitto: Broker) -> None:
    from citytraffic.messaging.plan_listener import PlanListener

    listener = PlanListener("127.0.0.1", mosquitto.port, ["B1", "C1"])
    try:
        assert listener.wait_subscribed(10)
        topic = site_topic("B1", "plan")
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-garbage")
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        for raw in (b"\xff not json", b"[1, 2]", json.dumps({"site": "C1"}).encode()):
            client.publish(topic, raw, qos=1).wait_for_publish(10)
        client.publish(topic, json.dumps({"site": "B1", "version": 9}).encode(), qos=1)
        client.loop_stop()
        wait_for(lambda: listener.latest("B1")[0] is not None, 10, "the plan")
        client.disconnect()
        assert listener.latest("B1")[0] == {"site": "B1", "version": 9}
        assert listener.refused == {"not JSON": 1, "not a plan object for this site": 2}
        assert listener.latest("C1") == (None, 0)
        now = datetime.now(UTC)
        assert listener.last_centre_contact(now) == now  # link up: heard from now
        mosquitto.stop()  # the link to the centre is lost
        wait_for(lambda: not listener.connected, 15, "the listener to notice")
        later = datetime.now(UTC) + timedelta(hours=1)
        lost = listener.last_centre_contact(later)
        assert lost is not None and now <= lost < later  # heard from when the link went down
    finally:
        listener.stop()


def test_every_fault_type_is_injected_into_the_sumo_gateway_and_recorded(
    tmp_path: Path, mosquitto: Broker, source: SumoSource
) -> None:
    from simulators.faults import fault_plan, read_ground_truth

    spec = (
        "stuck:detector=B1*,at=2m,for=3m;dropout:site=A0,p=1,at=1m,for=2m;"
        "noise:site=A1,sd=0.2,at=1m;dead:gateway=gw-C0,at=2m,for=2m;"
        "duplicate:site=B0,p=1,at=0,for=3m;reorder:site=B2,p=0.5,delay=2;"
        "skew:site=A2,offset=-90s;malformed:site=C2,kind=json,p=1,at=0,for=3m"
    )
    plan = fault_plan(spec, tmp_path / "faults.jsonl", seed=5)
    rc = run_sumo_gateway(
        "127.0.0.1",
        mosquitto.port,
        source,
        speedup=MAX_SPEEDUP,
        duration_s=420,
        start=datetime.fromtimestamp((time.time() // INTERVAL_S - 10) * INTERVAL_S, UTC),
        plans=False,
        faults=plan,
    )
    assert rc == 0
    records = read_ground_truth(tmp_path / "faults.jsonl")
    kinds = {r.fault for r in records}
    assert kinds == {
        "stuck",
        "dropout",
        "noise",
        "dead",
        "duplicate",
        "reorder",
        "skew",
        "malformed",
    }
    assert {r.site for r in records if r.fault == "dropout"} == {"A0"}
    assert {r.gateway for r in records if r.fault == "dead"} == {"gw-C0"}
    assert all(str(r.detector).startswith("B1") for r in records if r.fault == "stuck")
