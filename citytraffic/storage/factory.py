"""Build the configured Store adapter from Settings (called by the composition root)."""

from __future__ import annotations

from citytraffic.settings import Settings
from citytraffic.storage.port import Store


def open_store(settings: Settings) -> Store:
    """InfluxStore when `settings.store_backend == "influx"`, else SqliteStore under data_dir.

    Raises StoreUnavailable when the SQLite file cannot be opened; InfluxStore does not contact
    the server beyond the optional CREATE DATABASE (a down server is logged there, not raised,
    so services can start before InfluxDB and retry their writes).
    """
    if settings.store_backend == "influx":
        from citytraffic.storage.influx import InfluxStore

        cfg = settings.influx
        if cfg.url is None:  # Settings refuses store=influx without a url; auto needs one
            raise ValueError("influx store needs influx.url")
        return InfluxStore(
            cfg.url,
            cfg.database,
            username=cfg.username,
            password=cfg.password.get_secret_value() if cfg.password else None,
            token=cfg.token.get_secret_value() if cfg.token else None,
            timeout_s=cfg.timeout_s,
            create_database=cfg.create_database,
        )
    from citytraffic.storage.sqlite import SqliteStore

    path = settings.path(settings.sqlite_path, "citytraffic.sqlite")
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(path)
