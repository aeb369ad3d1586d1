"""Malformed payloads beside good ones: dead-lettered with a reason and counted, good readings all
stored; future-stamped readings quarantined, never stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.waiting import wait_for

from citytraffic.messaging import payloads
from citytraffic.messaging.broker_process import Broker
from citytraffic.messaging.publisher import GatewayPublisher
from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from ingest.loadgen import past_stream
from ingest.process import ingest_env, start_ingest

pytestmark = pytest.mark.integration


BAD: list[tuple[str, bytes | None, str]] = [
    ("traffic/v1/site/J0000/detectors", b"{not json", "malformed_json"),
    ("traffic/v1/site/J0000/detectors", b'{"schema":"traffic.detectors/1","seq":1}', "schema"),
    ("traffic/v1/site/J0001/detectors", b"", "malformed_json"),
    ("traffic/v1/site/J0002/signal", None, "wrong_topic"),  # a detector batch on a signal topic
    ("traffic/v1/site/OTHER/detectors", None, "topic_mismatch"),
    ("traffic/v1/site/J0003/detectors", b"x" * (300 * 1024), "oversized"),
]


def test_bad_payloads_dead_lettered_good_ones_stored(
    tmp_path: Path, mosquitto: Broker, influxd: InfluxServer
) -> None:
    stream = past_stream(1200, per_message=12, junctions=10)
    env = ingest_env(tmp_path, mosquitto.port, influxd.url, "rejects", "ingest-rejects")
    ingest = start_ingest(tmp_path / "ingest", env)
    store = InfluxStore(influxd.url, "rejects")
    good = payloads.encode(stream.message(0))
    future_ts = datetime.now(UTC) + timedelta(hours=2)
    future = payloads.DetectorBatch(
        "gw-load", 999, "J0000", future_ts, 30, [payloads.DetectorValue("J0000-D00", count=1)]
    )
    try:
        with GatewayPublisher("127.0.0.1", mosquitto.port, stream.gateway) as pub:
            for i, message in enumerate(stream.iter_messages()):
                pub.publish(message)
                if i % 10 == 5:  # interleave the bad ones with the good ones
                    topic, body, _ = BAD[(i // 10) % len(BAD)]
                    pub.publish_raw(topic, good if body is None else body)
            pub.publish(future)
            assert pub.flush(30)
        start_ns, end_ns = stream.start_s * 10**9, stream.end_s * 10**9
        wait_for(lambda: store.count("detector", "seq", start_ns, end_ns) >= 1200, 60, "readings")
        wait_for(lambda: ingest.metric("citytraffic_ingest_quarantined_total") >= 1, 30, "q")
        dead = {
            k: v
            for k, v in ingest.metrics().items()
            if k.startswith("citytraffic_ingest_dead_letters_total")
        }
        ingest.stop()
    finally:
        ingest.kill()
    assert store.count("detector", "seq", start_ns, end_ns) == 1200
    assert (
        store.count("detector", "seq", start_ns, int(future_ts.timestamp() + 3600) * 10**9) == 1200
    )
    sent = {reason: 0 for _, _, reason in BAD}
    for i in range(stream.messages):
        if i % 10 == 5:
            sent[BAD[(i // 10) % len(BAD)][2]] += 1
    expected = {
        f'citytraffic_ingest_dead_letters_total{{reason="{r}"}}': float(n) for r, n in sent.items()
    }
    assert dead == expected
    lines = (tmp_path / "data" / "ingest" / "dead_letters.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == sum(sent.values())
    assert {r["reason"] for r in records} == set(sent)
    assert all(r["topic"].startswith("traffic/v1/site/") and r["detail"] for r in records)
    quarantine = (tmp_path / "data" / "ingest" / "quarantine.jsonl").read_text().splitlines()
    assert len(quarantine) == 1 and json.loads(quarantine[0])["reason"] == "future"
    store.close()
