"""The launchers behind the demo, the fixtures and the benchmarks start real servers."""

from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from citytraffic.messaging.broker_process import start_amqtt, start_mosquitto
from citytraffic.storage.influx_process import start_influxd


def _roundtrip(port: int) -> bytes:
    got: list[bytes] = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="t")
    c.on_message = lambda _c, _u, m: got.append(m.payload)
    c.connect("127.0.0.1", port)
    c.subscribe("t/#", qos=1)
    c.loop_start()
    try:
        import time

        time.sleep(0.5)
        c.publish("t/x", b"hello", qos=1).wait_for_publish(5)
        for _ in range(100):
            if got:
                break
            time.sleep(0.05)
    finally:
        c.loop_stop()
        c.disconnect()
    return got[0] if got else b""


@pytest.mark.integration
def test_mosquitto_config_raises_limits(tmp_path: Path) -> None:
    broker = start_mosquitto(tmp_path)
    try:
        conf = (tmp_path / "mosquitto.conf").read_text()
        assert f"listener {broker.port} 127.0.0.1" in conf
        assert "max_queued_messages 1000000" in conf
        assert "max_inflight_messages 10000" in conf
        assert "set_tcp_nodelay true" in conf
        assert _roundtrip(broker.port) == b"hello"
    finally:
        broker.stop()


def test_amqtt_fallback_broker_relays(tmp_path: Path) -> None:
    broker = start_amqtt(tmp_path)
    try:
        assert _roundtrip(broker.port) == b"hello"
    finally:
        broker.stop()


@pytest.mark.integration
def test_influxd_private_instance(tmp_path: Path) -> None:
    server = start_influxd(tmp_path)
    try:
        conf = (tmp_path / "influxdb.conf").read_text()
        assert f'bind-address = "127.0.0.1:{server.rpc_port}"' in conf
        assert httpx.get(f"{server.url}/ping").status_code == 204
        server.restart()
        assert httpx.get(f"{server.url}/ping").status_code == 204
    finally:
        server.stop()
    assert not server.running
