"""The synthetic city through a real mosquitto, read back by a plain paho subscriber."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from citytraffic.messaging import payloads, topics
from citytraffic.messaging.broker_process import Broker
from simulators.synthetic.city import CityConfig, build_city
from simulators.synthetic.model import L_EFF_M
from simulators.synthetic.run import run_synthetic

CONFIG = replace(CityConfig(), rows=3, cols=3)
INTERVALS = 8


class Collector:
    def __init__(self, port: int) -> None:
        self.received: list[
            tuple[float, str, bytes, bool]
        ] = []  # (wall time, topic, payload, retain)
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-collector")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("traffic/v1/#", qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: object, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.received.append((time.time(), msg.topic, bytes(msg.payload), bool(msg.retain)))

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.integration
def test_synthetic_city_over_mosquitto(mosquitto: Broker) -> None:
    collector = Collector(mosquitto.port)
    try:
        assert collector.subscribed.wait(10)
        rc = run_synthetic(
            "127.0.0.1",
            mosquitto.port,
            seed=42,
            speedup=600.0,
            interval_s=60,
            duration_s=60.0 * INTERVALS,
            config=CONFIG,
        )
        assert rc == 0
        sites = {s.id for s in build_city(CONFIG).network.sites}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with collector.lock:
                n = sum(1 for _, t, _, _ in collector.received if t.endswith("/detectors"))
            if n >= INTERVALS * len(sites):
                break
            time.sleep(0.1)
    finally:
        collector.stop()

    received = list(collector.received)
    seqs: dict[str, list[int]] = {}
    batches: list[payloads.DetectorBatch] = []
    statuses: dict[str, list[str]] = {}
    n_checked = 0
    for wall, topic, raw, _retain in received:
        parsed = topics.parse_topic(topic)
        assert parsed is not None, topic
        message = payloads.decode(raw, parsed.kind, parsed.key)
        if isinstance(message, payloads.GatewayStatus):
            statuses.setdefault(message.gateway, []).append(message.status)
            continue
        assert isinstance(message, (payloads.DetectorBatch, payloads.SignalState))
        # no timestamp from the future (the subscriber's clock is the same machine's)
        assert message.ts.timestamp() <= wall + 0.001
        seqs.setdefault(message.gateway, []).append(message.seq)
        if isinstance(message, payloads.DetectorBatch):
            batches.append(message)
            for r in message.readings:
                assert r.count is not None and r.count >= 0 and r.occupancy is not None
                assert 0.0 <= r.occupancy <= 1.0
                if r.count == 0:
                    assert r.speed_kmh is None
                    continue
                assert r.speed_kmh is not None and r.speed_kmh > 0
                q = r.count * 3600 / message.interval_s
                assert r.occupancy == pytest.approx(
                    min(1.0, q / r.speed_kmh * L_EFF_M / 1000), abs=6e-4
                )
                n_checked += 1
        else:
            assert len(message.state) == 4 and message.plan == "P1"

    assert {b.site for b in batches} == sites
    per_site = {s: sum(1 for b in batches if b.site == s) for s in sites}
    assert set(per_site.values()) == {INTERVALS}
    assert n_checked > 100
    # per gateway: sequence numbers arrive in order, from 0, without gaps or duplicates
    assert set(seqs) == {f"gw-{s}" for s in sites}
    for gw, got in seqs.items():
        assert got == list(range(len(got))), gw
    # every batch of a site has the interval-end timestamps one interval apart
    for s in sites:
        ts = sorted(b.ts for b in batches if b.site == s)
        assert all((b - a).total_seconds() == 60 for a, b in itertools.pairwise(ts))
        assert ts[-1] <= datetime.now(UTC)
    # each gateway said online, and offline when the run ended
    assert set(statuses) == {f"gw-{s}" for s in sites}
    assert all(v[0] == "online" and v[-1] == "offline" for v in statuses.values())
