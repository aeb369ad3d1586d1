from pathlib import Path

import pytest
from pydantic import ValidationError

from citytraffic.settings import Settings


def test_defaults_run_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for k in list(__import__("os").environ):
        if k.startswith("CITYTRAFFIC_"):
            monkeypatch.delenv(k)
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.store_backend == "sqlite"
    assert s.path(s.sqlite_path, "citytraffic.sqlite") == Path("var/citytraffic.sqlite")


def test_nested_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYTRAFFIC_MQTT__PORT", "1999")
    monkeypatch.setenv("CITYTRAFFIC_INFLUX__URL", "http://db:8086/")
    monkeypatch.setenv("CITYTRAFFIC_INGEST__BATCH_SIZE", "123")
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert s.mqtt.port == 1999
    assert s.influx.url == "http://db:8086"
    assert s.store_backend == "influx"
    assert s.ingest.batch_size == 123


def test_bad_values_are_refused_with_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITYTRAFFIC_MQTT__PASSWORD", "changeme")
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.delenv("CITYTRAFFIC_MQTT__PASSWORD")
    monkeypatch.setenv("CITYTRAFFIC_STORE", "influx")
    with pytest.raises(ValidationError, match=r"influx\.url"):
        Settings(_env_file=None)  # type: ignore[call-arg]
