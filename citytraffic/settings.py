"""One Settings object, built once by the entry point (`citytraffic.cli`) and passed down.

Every option can be set in the environment as `CITYTRAFFIC_<SECTION>__<NAME>` (for example
`CITYTRAFFIC_MQTT__HOST`, `CITYTRAFFIC_INFLUX__URL`) or in a `.env` file. Defaults run the
embedded demo: a local broker on 127.0.0.1:1883 and an embedded SQLite store under `var/`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    Field,
    IPvAnyNetwork,
    SecretStr,
    field_validator,
    model_validator,
)
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
    stats_interval_s: float = Field(
        5.0, gt=0, description="how often ingest writes its counters as `ingest_stats` points"
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="serve ingest's Prometheus metrics (and a health check)"
    )


class ApiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    snapshot_refresh_s: float = Field(2.0, gt=0)
    live_window_s: int = Field(3600, ge=60, description="how far back /conditions looks")
    max_history_s: int = Field(31 * 86400, ge=3600)
    max_history_buckets: int = Field(10_000, ge=10)
    cors_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = Field(64 * 1024, ge=1024)


class AuthSettings(BaseModel):
    """API keys and dashboard sessions (api/auth). Auth is on in every mode, the demo included."""

    key_file: Path | None = Field(
        None, description="JSON file of API key digests; default <data_dir>/api-keys.json"
    )
    session_secret: SecretStr | None = Field(
        None,
        description="HMAC key of the session cookies (>= 32 characters); default: generated "
        "once into <data_dir>/session-secret, so sessions survive a restart",
    )
    session_ttl_s: int = Field(12 * 3600, ge=60, le=30 * 86400)
    cookie_name: str = Field("citytraffic_session", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    cookie_secure: bool = Field(False, description="Secure cookie flag: set it behind HTTPS")
    key_reload_s: float = Field(
        1.0, ge=0, description="how often the API looks for key changes made by the CLI"
    )

    @field_validator("session_secret")
    @classmethod
    def _real_secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        secret = v.get_secret_value()
        if secret.lower() in PLACEHOLDER_SECRETS or len(secret) < 32:
            raise ValueError("auth.session_secret must be a real secret of >= 32 characters")
        return v


class FeedSettings(BaseModel):
    """Public feeds and public data routes: rate limits, caching, publisher identity."""

    rate_per_s: float = Field(
        5.0, gt=0, description="sustained requests/s per client IP on public data routes"
    )
    burst: int = Field(60, ge=1, description="token bucket size per client IP")
    trusted_clients: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="client networks with the raised limit below (e.g. a benchmark host, a CDN)",
    )
    trusted_rate_per_s: float | None = Field(
        None, gt=0, description="limit for trusted_clients; unset = no limit"
    )
    trusted_burst: int = Field(1000, ge=1)
    max_tracked_clients: int = Field(100_000, ge=100)
    max_age_s: int = Field(5, ge=0, le=3600, description="Cache-Control max-age of the feeds")
    publisher: str = Field("citytraffic", min_length=1, max_length=200)
    country: str = Field("fr", pattern=r"^[a-z]{2}$", description="DATEX II publicationCreator")
    national_identifier: str = Field("citytraffic", min_length=1, max_length=64)
    language: str = Field("en", pattern=r"^[a-z]{2}$")
    contact_email: str | None = None
    public_base_url: str | None = Field(
        None,
        description="absolute base URL for links in feeds (NGSI-LD @context); default: "
        "the URL of the request",
    )
    ngsi_max_limit: int = Field(10_000, ge=1)


class LiveSettings(BaseModel):
    """The engines run in the API's snapshot refresh: conditions, health, incidents."""

    enabled: bool = True
    history_s: int = Field(3600, ge=600, description="readings kept in memory for the engines")
    late_tolerance_s: int = Field(
        60, ge=0, description="readings arriving this much behind the newest are still taken"
    )
    catchup_every_s: float = Field(
        60.0,
        gt=0,
        description="between these full reads the engines take only each detector's newest "
        "reading (read by the snapshot anyway); bursts and late readings wait for the next one",
    )
    conditions_every_s: float = Field(
        30.0, gt=0, description="recompute conditions this often even without new readings"
    )
    health_every_s: float = Field(60.0, gt=0)
    write_health: bool = Field(True, description="store a detector_health point per assessment")
    incident_grace_s: float = Field(
        30.0,
        ge=0,
        description="an interval is closed for incident detection this long after "
        "its end, or as soon as a later interval arrives",
    )
    audit_lookback_days: int = Field(30, ge=1, description="operator actions reloaded at start")
    stream_max_clients: int = Field(1000, ge=1)
    stream_queue: int = Field(256, ge=8, description="messages queued per stream client")
    stream_ping_s: float = Field(20.0, gt=0)


class MapSettings(BaseModel):
    """Base map of /map and the dashboard: online OSM tiles, none (offline control room), or a
    local tile server's XYZ template, e.g. http://tiles.local/{z}/{x}/{y}.png."""

    tiles: str = Field("osm", description="osm | none | XYZ template of a tile server")
    tile_attribution: str | None = None

    @field_validator("tiles")
    @classmethod
    def _known(cls, v: str) -> str:
        from maps.tiles import tile_source

        tile_source(v)  # raises ValueError naming the accepted forms: refused at start-up
        return v


class SignalSettings(BaseModel):
    """Timing suggestions and the operator plan workflow (docs/signal-workflow.md)."""

    suggestion_ttl_s: int = Field(900, ge=60, description="how long a suggestion may be accepted")
    plan_validity_s: int = Field(
        3600, ge=60, le=7 * 86400, description="valid_until - valid_from of a published plan"
    )
    stale_after_s: float = Field(300.0, gt=0, description="older readings withhold a suggestion")
    local_cycle_s: float = Field(
        90.0, gt=0, description="assumed local plan cycle (equal splits) for expected benefit"
    )
    mqtt_client_id: str = Field("citytraffic-api-signals", min_length=1, max_length=64)
    publish_timeout_s: float = Field(5.0, gt=0, description="wait for the broker's PUBACK")


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
    maps: MapSettings = MapSettings()
    auth: AuthSettings = AuthSettings()
    feeds: FeedSettings = FeedSettings()
    live: LiveSettings = LiveSettings()
    signals: SignalSettings = SignalSettings()

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
