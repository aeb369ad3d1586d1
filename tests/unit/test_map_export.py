"""`citytraffic map --out FILE --at TIME`: engines over stored readings -> a standalone map."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from api.testing import reading_point
from citytraffic.map_export import congestion_share, read_samples
from citytraffic.network_file import load_network
from citytraffic.storage.sqlite import SqliteStore
from maps.assets import page_asset_urls

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "network-small.geojson"
NS = 1_000_000_000
AT = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
AT_NS = int(AT.timestamp()) * NS


def _fill(store: SqliteStore, crawl: str) -> None:
    net = load_network(EXAMPLE)
    points = []
    for d in net.detectors:
        for m in range(60):  # one hour of 1-minute readings before AT
            slow = d.id == crawl and m >= 30
            speed = 5.0 if slow else 0.9 * net.link(d.link).free_flow_kmh
            points.append(
                reading_point(
                    d.site,
                    d.id,
                    AT_NS - (60 - m) * 60 * NS,
                    count=8,
                    occupancy=0.6 if slow else 0.08,
                    speed_kmh=speed,
                )
            )
    store.write(points)


def test_congestion_share_counts_slow_readings(tmp_path: Path) -> None:
    net = load_network(EXAMPLE)
    store = SqliteStore(tmp_path / "s.sqlite")
    crawl = net.detectors[0]
    _fill(store, crawl.id)
    share = congestion_share(net, read_samples(store, AT_NS - 3600 * NS, AT_NS + 1))
    assert share[crawl.link] > 0 and max(share.values()) == share[crawl.link]
    assert all(v == 0 for k, v in share.items() if k != crawl.link)


def test_cli_writes_a_standalone_map(tmp_path: Path) -> None:
    store_path = tmp_path / "s.sqlite"
    crawl = load_network(EXAMPLE).detectors[0]
    _fill(SqliteStore(store_path), crawl.id)
    out = tmp_path / "map.html"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYTRAFFIC_")} | {
        "CITYTRAFFIC_STORE": "sqlite",
        "CITYTRAFFIC_SQLITE_PATH": str(store_path),
        "CITYTRAFFIC_NETWORK_FILE": str(EXAMPLE),
        "CITYTRAFFIC_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "citytraffic.cli",
            "map",
            "--out",
            str(out),
            "--at",
            AT.isoformat(),
            "--tiles",
            "none",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert crawl.link in html  # the link layer carries every link id
    assert "HeatMap" in html or "heatLayer" in html
    assert not [u for u in page_asset_urls(html) if u.startswith("http")]  # nothing from a CDN
    bad_at = subprocess.run(
        [
            sys.executable,
            "-m",
            "citytraffic.cli",
            "map",
            "--out",
            str(out),
            "--at",
            "2025-03-03T09:00:00",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad_at.returncode == 2 and "offset" in bad_at.stderr
