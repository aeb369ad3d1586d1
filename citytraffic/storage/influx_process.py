"""Start a private influxd 1.x: own data/meta/wal dirs, own HTTP and RPC ports on 127.0.0.1."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from citytraffic.processes import ManagedProcess, find_executable, free_port


class InfluxServer(ManagedProcess):
    http_port: int
    rpc_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def influxd_config(root: Path, http_port: int, rpc_port: int, auth: bool) -> str:
    return f"""\
reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
  wal-fsync-delay = "0s"
  max-values-per-tag = 0
  max-series-per-database = 0
[coordinator]
  log-queries-after = "0s"
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {"true" if auth else "false"}
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
"""


def _pings(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=1) as r:
            return bool(r.status == 204)
    except OSError:
        return False


def start_influxd(
    workdir: Path, auth: bool = False, http_port: int | None = None, rpc_port: int | None = None
) -> InfluxServer:
    exe = find_executable("influxd")
    if exe is None:
        raise FileNotFoundError("influxd is not installed (apt-get install influxdb)")
    http_port = http_port or free_port()
    rpc_port = rpc_port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "influxdb.conf"
    conf.write_text(influxd_config(workdir, http_port, rpc_port, auth))
    server = InfluxServer(
        "influxd",
        [exe, "-config", str(conf)],
        workdir,
        lambda: _pings(http_port),
        ready_timeout_s=60,
    )
    server.http_port, server.rpc_port = http_port, rpc_port
    return server.start()  # type: ignore[return-value]
