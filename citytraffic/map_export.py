"""`citytraffic map --out FILE [--at TIME]`: a standalone map of the network at a moment.

Reads the readings of the hours before `at` from the store, runs the same pure engines as the
live API (conditions, detector health, incidents), and renders the folium map with its assets
inlined, so the file opens offline. The heat layer shows, per link, the share of the window's
intervals in which the link was congested (from each detector's own readings).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

from api.dashboard.mapdata import detector_views, incident_views, link_views
from citytraffic.conditions import (
    assess_health,
    compute_conditions,
    detect_incidents,
    sample_from_fields,
)
from citytraffic.conditions.samples import DetectorSample
from citytraffic.domain.network import Network
from citytraffic.storage.port import Store
from maps import CongestionHeat, export_live_map
from maps.geojson import heat_points_along_links

NS = 1_000_000_000
CONGESTED_SPEED_RATIO = 0.5  # a reading below half the free-flow speed counts as congested


def read_samples(store: Store, start_ns: int, end_ns: int) -> list[DetectorSample]:
    samples = []
    for row in store.range("detector", start_ns, end_ns, limit=2_000_000):
        detector = row.tags.get("detector")
        sample = sample_from_fields(detector, row.time_ns, row.fields) if detector else None
        if sample is not None:
            samples.append(sample)
    return samples


def congestion_share(network: Network, samples: list[DetectorSample]) -> dict[str, float]:
    """Per link: share of its readings below CONGESTED_SPEED_RATIO of free-flow speed."""
    link_of = {d.id: network.link(d.link) for d in network.detectors}
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for s in samples:
        link = link_of.get(s.detector)
        if link is None or s.speed_kmh is None or s.quality != "ok":
            continue
        counts = totals[link.id]
        counts[0] += s.speed_kmh < CONGESTED_SPEED_RATIO * link.free_flow_kmh
        counts[1] += 1
    return {link: congested / n for link, (congested, n) in totals.items() if n}


def render_map_at(
    store: Store, network: Network, at: datetime, *, window_s: int = 3 * 3600, tiles: str = "osm"
) -> str:
    end_ns = int(at.timestamp() * NS) + 1
    samples = read_samples(store, end_ns - window_s * NS, end_ns)
    health = assess_health(network, samples, end_ns, window_s=window_s)
    conditions = compute_conditions(
        network, samples, end_ns, health={h.detector: h for h in health}
    )
    incidents = [i for i in detect_incidents(network, samples) if i.state != "ended"]
    heat = CongestionHeat(
        heat_points_along_links(network, congestion_share(network, samples)),
        start=datetime.fromtimestamp((end_ns - window_s * NS) / NS, UTC),
        end=at,
    )
    return export_live_map(
        network,
        link_views({c.link: c for c in conditions.links}),
        (),
        incident_views(incidents),
        detector_views(network, health),
        heat,
        tiles,
        title=f"citytraffic at {at.isoformat()}",
    )


def write_map(
    store: Store, network: Network, out: Path, at: datetime, *, window_s: int, tiles: str
) -> int:
    html = render_map_at(store, network, at, window_s=window_s, tiles=tiles)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return len(html.encode())
