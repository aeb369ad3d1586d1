"""One Settings object, built once by the entry point (`citytraffic.cli`) and passed down.

Every option can be set in the environment as `CITYTRAFFIC_<SECTION>__<NAME>` (for example
`CITYTRAFFIC_MQTT__HOST`, `CITYTRAFFIC_INFLUX__URL`) or in a `.env` file. Defaults run the
embedded demo: a local broker on 127.0.0.1:1883 and an embedded SQLite store under `var/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"changeme", "change-me", "password", "secret", "admin", ""}


class MqttSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    client_id: str = "citytraffic-ingest"
    share_group: str | None = Field(
        None, description="consume through $share/<group>/... so several ingest processes split"
    )

    @field_validator("password")
    @classmethod
    def _no_placeholder(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and v.get_secret_value().lower() in PLACEHOLDER_SECRETS:
            raise ValueError("MQTT password is a placeholder; set a real secret")
        return v


class InfluxSettings(BaseModel):
    url: str | None = Field(None, description="e.g. http://127.0.0.1:8086; unset = SQLite store")
    database: str = "citytraffic"
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = Field(None, description="InfluxDB 2.x/3.x token (v1 compat API)")
    timeout_s: float = Field(10.0, gt=0)
    create_database: bool = True

    @field_validator("url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("influx url must start with http:// or https://")
        return v.rstrip("/") if v else v


class IngestSettings(BaseModel):
    batch_size: int = Field(5000, ge=1, le=100_000, description="points per store write")
    batch_max_ms: int = Field(200, ge=1, le=60_000, description="max wait before a write")
    max_pending_messages: int = Field(
        20_000, ge=1, description="unacked MQTT messages held before the loop stops reading"
    )
    future_tolerance_s: float = Field(
        120.0, ge=0, description="readings stamped further ahead of server time are quarantined"
    )
    spool_dir: Path | None = None
    dead_letter_path: Path | None = None
    quarantine_path: Path | None = None
    store_retry_s: float = Field(2.0, gt=0)


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    snapshot_refresh_s: float = Field(2.0, gt=0)
    live_window_s: int = Field(3600, ge=60, description="how far back /conditions looks")
    max_history_s: int = Field(31 * 86400, ge=3600)
    max_history_buckets: int = Field(10_000, ge=10)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(64 * 1024, ge=1024)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CITYTRAFFIC_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path("var")
    network_file: Path | None = None
    store: Literal["auto", "influx", "sqlite"] = "auto"
    sqlite_path: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    mqtt: MqttSettings = MqttSettings()
    influx: InfluxSettings = InfluxSettings()
    ingest: IngestSettings = IngestSettings()
    api: ApiSettings = ApiSettings()

    @model_validator(mode="after")
    def _store_needs_url(self) -> Settings:
        if self.store == "influx" and not self.influx.url:
            raise ValueError("store=influx needs influx.url (CITYTRAFFIC_INFLUX__URL)")
        return self

    @property
    def store_backend(self) -> Literal["influx", "sqlite"]:
        if self.store == "auto":
            return "influx" if self.influx.url else "sqlite"
        return self.store

    def path(self, explicit: Path | None, default_name: str) -> Path:
        return explicit if explicit is not None else self.data_dir / default_name
