"""Where the live forecaster's inputs come from: the detectors (from the network, or from the
store when the network has none), their neighbours, and their history as bucketed arrays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from citytraffic.domain.network import Network
from citytraffic.storage.port import Aggregate, Store

DETECTOR = "detector"
SECOND_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class DetectorRef:
    id: str
    site: str
    link: str | None = None


def network_adjacency(network: Network, detectors: Sequence[DetectorRef]) -> sparse.csr_matrix:
    """Neighbours of each detector: same link or site 1.0; a link that ends where the other
    starts (upstream / downstream) 0.5."""
    index: dict[str, list[int]] = {}
    for i, d in enumerate(detectors):
        if d.link:
            index.setdefault(d.link, []).append(i)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []

    def join(a: list[int], b: list[int], w: float) -> None:
        for i in a:
            for j in b:
                if i != j:
                    rows.append(i)
                    cols.append(j)
                    vals.append(w)

    for members in index.values():
        join(members, members, 1.0)
    by_site: dict[str, list[int]] = {}
    for i, d in enumerate(detectors):
        by_site.setdefault(d.site, []).append(i)
    for members in by_site.values():
        join(members, members, 1.0)
    for a in network.links:
        for b in network.links:
            if a.id != b.id and a.to_site is not None and a.to_site == b.from_site:
                join(index.get(a.id, []), index.get(b.id, []), 0.5)
                join(index.get(b.id, []), index.get(a.id, []), 0.5)
    n = len(detectors)
    matrix = sparse.coo_matrix((vals, (rows, cols)), shape=(n, n)).tocsr()
    matrix.sum_duplicates()
    matrix.data = np.minimum(matrix.data, 1.0)
    return sparse.csr_matrix(matrix)


def detectors_of(network: Network, store: Store, since_ns: int) -> list[DetectorRef]:
    """The network's detectors; without any, those that reported to the store since `since_ns`."""
    if network.detectors:
        return [DetectorRef(d.id, d.site, d.link) for d in network.detectors]
    found = {
        (row.tags["detector"], row.tags.get("site", ""))
        for row in store.latest(DETECTOR, since_ns)
        if "detector" in row.tags
    }
    return [DetectorRef(det, site) for det, site in sorted(found)]


def load_history(
    store: Store, detectors: Sequence[DetectorRef], start_ns: int, rows: int, step_s: int
) -> tuple[np.ndarray, np.ndarray]:
    """(speed_kmh, flow_vph), each (rows, N) on the bucket grid from `start_ns`, NaN = no data."""
    step_ns = step_s * SECOND_NS
    end_ns = start_ns + rows * step_ns
    speed = np.full((rows, len(detectors)), np.nan)
    flow = np.full((rows, len(detectors)), np.nan)
    aggregates: dict[str, Aggregate] = {"speed_kmh": "mean", "count": "mean", "interval_s": "mean"}
    for j, d in enumerate(detectors):
        tags = {"detector": d.id, "site": d.site} if d.site else {"detector": d.id}
        for bucket in store.aggregate(DETECTOR, tags, aggregates, start_ns, end_ns, step_s):
            i = (bucket.start_ns - start_ns) // step_ns
            if not 0 <= i < rows:
                continue
            v = bucket.values
            if v.get("mean_speed_kmh") is not None:
                speed[i, j] = v["mean_speed_kmh"]
            count, interval = v.get("mean_count"), v.get("mean_interval_s")
            if count is not None and interval:
                flow[i, j] = count * 3600.0 / interval
    return speed, flow
