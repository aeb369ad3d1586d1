"""Every fault type produced on a METR-LA replay through a real mosquitto, the real ingest and a
real influxd, and recorded in the ground truth: stuck and noisy values stored as sent, dropouts
and a dead gateway (its last will fires) leave gaps, duplicates store no extra points, reordered
messages all arrive, future-skewed readings are quarantined, malformed payloads dead-lettered."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citytraffic.messaging.broker_process import Broker
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.process import ingest_env, start_ingest
from simulators.faults import FaultPlan, FaultType, parse_faults, read_ground_truth
from simulators.metrla.data import MPH_TO_KMH, load_metrla
from simulators.metrla.network import build_network
from simulators.metrla.run import run_metrla

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[2].parent / "shared/data/metr-la"
NS = 1_000_000_000
ROWS = 24  # two hours


class Collector:
    """Everything the broker delivers on traffic/v1/# (payloads as sent, in arrival order)."""

    def __init__(self, port: int) -> None:
        self.received: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fault-collector")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("traffic/v1/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.received.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def wait_for(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_every_fault_type_through_broker_and_ingest(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer
) -> None:
    data = load_metrla(DATA, max_rows=ROWS)
    network = build_network(data.stations)
    dead_gw = network.gateways[-1]
    gateway_of = {s: gw.id for gw in network.gateways for s in gw.sites}
    free = [f"LA-{s.id}" for s in data.stations if f"LA-{s.id}" not in dead_gw.sites]
    stuck, drop, noisy, dup, reord, skewed, bad = free[:7]
    spec = (
        f"stuck:detector={stuck}:D1,at=30m,for=30m;dropout:site={drop},at=20m,for=20m;"
        f"noise:site={noisy},sd=0.2;dead:gateway={dead_gw.id},at=40m,for=30m;"
        f"duplicate:site={dup},copies=2;reorder:site={reord},delay=5,p=0.5;"
        f"skew:site={skewed},offset=3h,at=1h,for=30m;malformed:site={bad}"
    )
    gt = tmp_path / "ground-truth.jsonl"
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "faults", "ingest-faults")
    ingest = start_ingest(tmp_path / "ingest", env)
    store = InfluxStore(influxd.url, "faults")
    collector = Collector(mosquitto.port)
    try:
        assert collector.subscribed.wait(10)
        rc = run_metrla(
            "127.0.0.1",
            mosquitto.port,
            data_dir=DATA,
            speedup=ROWS * 300 / 6.0,
            duration_s=ROWS * 300.0,
            faults=FaultPlan(parse_faults(spec), gt, seed=3),
        )
        assert rc == 0
        records = read_ground_truth(gt)
        by_type: dict[str, list] = {t.value: [] for t in FaultType}  # type: ignore[type-arg]
        for r in records:
            by_type[r.fault].append(r)
        assert all(by_type.values()), {k: len(v) for k, v in by_type.items()}
        (dead,) = by_type["dead"]
        lost = dead.detail["lost_unacked"] or 0
        not_stored = (
            len(by_type["dropout"])
            + len(dead.seq)
            + len(by_type["malformed"])
            + len(by_type["skew"])
        )
        expected = ROWS * len(data.stations) - not_stored
        end_ns = (int(time.time()) + 4 * 3600) * NS
        wait_for(
            lambda: store.count("detector", "speed_kmh", 0, end_ns) >= expected - lost,
            90,
            "the readings",
        )
        wait_for(
            lambda: (
                ingest.metric("citytraffic_ingest_quarantined_total") >= len(by_type["skew"])
                and ingest.metric("citytraffic_ingest_dead_letters_total")
                >= len(by_type["malformed"])
            ),
            30,
            "quarantine and dead letters",
        )
        time.sleep(1.0)  # anything extra (a duplicate point) would show now
        metrics = ingest.metrics()
        rows = store.range("detector", 0, end_ns, limit=10 * expected)
        statuses = store.range("gateway_status", 0, end_ns, tags={"gateway": dead_gw.id})
        ingest.stop()
    finally:
        collector.stop()
        ingest.kill()
        store.close()

    assert expected - lost <= len(rows) <= expected
    series: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        series.setdefault(row.tags["site"], []).append((row.time_ns, row.fields["speed_kmh"]))
    times = sorted({t for t, _ in series[free[10]]})  # an untouched station
    assert len(times) == ROWS
    column = {f"LA-{s.id}": k for k, s in enumerate(data.stations)}

    def csv_kmh(site: str, t_ns: int) -> float:
        mph = data.speeds_mph[times.index(t_ns)][column[site]]
        assert mph is not None
        return mph * MPH_TO_KMH

    def ts_ns(t: datetime) -> int:
        return int(t.timestamp()) * NS

    # stuck: the stored values in the window repeat the last value before it
    stuck_ts = {ts_ns(r.end) for r in by_type["stuck"]}
    assert len(stuck_ts) == 6
    frozen = [v for t, v in series[stuck] if t in stuck_ts]
    assert len(frozen) == 6 and len(set(frozen)) == 1
    assert frozen[0] == pytest.approx(csv_kmh(stuck, min(stuck_ts) - 300 * NS))
    assert any(v != frozen[0] for t, v in series[stuck] if t not in stuck_ts)
    # dropout: gaps exactly where recorded
    gaps = {ts_ns(r.end) for r in by_type["dropout"]}
    assert len(gaps) == 4 and {t for t, _ in series[drop]} == set(times) - gaps
    # noise: stored as sent, not as measured
    sent = {ts_ns(r.end): r.detail["sent"]["speed_kmh"] for r in by_type["noise"]}
    assert len(sent) == ROWS
    for t, v in series[noisy]:
        assert v == pytest.approx(sent[t]) and v != pytest.approx(csv_kmh(noisy, t))
    # dead gateway: the broker published its last will, it came back, its readings have a gap
    topic = f"traffic/v1/gateway/{dead_gw.id}/status"
    said = [json.loads(p) for t, p, _ in collector.received if t == topic]
    assert [s["status"] for s in said] == ["online", "offline", "online", "offline"]
    assert "ts" not in said[1] and "ts" in said[3]  # the will has no ts, the clean close has
    assert [r.fields["status"] for r in statuses].count("offline") >= 2
    dead_points = sum(len(series.get(s, [])) for s in dead_gw.sites)
    full = ROWS * len(dead_gw.sites)
    assert full - len(dead.seq) - lost <= dead_points <= full - len(dead.seq)
    assert dead.detail["revived"] is True
    # duplicates: delivered three times by the broker, stored once
    dup_topic = f"traffic/v1/site/{dup}/detectors"
    dup_seqs = Counter(json.loads(p)["seq"] for t, p, _ in collector.received if t == dup_topic)
    assert set(dup_seqs.values()) == {3} and len(dup_seqs) == ROWS
    assert len(series[dup]) == ROWS
    # reorder: the held messages arrived after later ones of their gateway, all stored
    gw_sites = {s for s, g in gateway_of.items() if g == gateway_of[reord]}
    order = [
        json.loads(p)["seq"]
        for t, p, _ in collector.received
        if t.endswith("/detectors") and t.split("/")[3] in gw_sites
    ]
    for r in by_type["reorder"]:
        (seq,) = r.seq
        assert any(later > seq for later in order[: order.index(seq)])
    assert len(series[reord]) == ROWS
    # skew: the future-stamped readings were quarantined, never stored
    skew_ts = {ts_ns(r.end) for r in by_type["skew"]}
    assert len(skew_ts) == 6 and not skew_ts & {t for t, _ in series[skewed]}
    assert len(series[skewed]) == ROWS - 6
    quarantine = (tmp_path / "data" / "ingest" / "quarantine.jsonl").read_text().splitlines()
    assert len(quarantine) == 6
    assert all(json.loads(q)["reason"] == "future" and skewed in q for q in quarantine)
    # malformed: dead-lettered with the reason the ground truth expects
    want = Counter(r.detail["expected_reason"] for r in by_type["malformed"])
    assert set(want) == {"malformed_json", "schema", "oversized"}
    got = {
        k.split('"')[1]: int(v)
        for k, v in metrics.items()
        if k.startswith("citytraffic_ingest_dead_letters_total{")
    }
    assert got == dict(want)
    assert bad not in series
