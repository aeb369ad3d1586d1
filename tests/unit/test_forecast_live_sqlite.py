"""The live forecaster on the embedded SQLite store and on a failing store."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from citytraffic.domain.network import Network
from citytraffic.storage.port import StoreUnavailable
from citytraffic.storage.sqlite import SqliteStore
from forecasting.live import horizon_steps, run_forecaster, run_once
from forecasting.sources import DetectorRef, network_adjacency
from forecasting.testing import DAY_S, NOW_NS, SECOND_NS, STEP_S, history, small_network


def test_horizons_must_be_multiples_of_the_step() -> None:
    assert horizon_steps([60, 5, 15, 15], 300) == [1, 3, 12]
    with pytest.raises(ValueError, match="7 min"):
        horizon_steps([7], 300)
    with pytest.raises(ValueError):
        run_forecaster(None, small_network(), interval_s=60, horizons_min=[0], once=True)  # type: ignore[arg-type]


def test_adjacency_joins_lanes_of_a_link_and_consecutive_links() -> None:
    network = small_network()
    refs = [DetectorRef(d.id, d.site, d.link) for d in network.detectors]
    adj = network_adjacency(network, refs).toarray()
    np.testing.assert_array_equal(adj, [[0, 1, 0.5], [1, 0, 0.5], [0.5, 0.5, 0]])


def test_run_once_writes_every_detector_and_link(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.write(history(days=1))
    summary = run_once(
        store, small_network(), horizons_min=[15, 30], now_ns=NOW_NS, history_s=DAY_S
    )
    assert (summary.detectors, summary.detectors_with_data, summary.fallbacks) == (3, 3, 0)
    assert summary.points == (3 + 2) * 2
    rows = store.range("forecast", NOW_NS, NOW_NS + DAY_S * SECOND_NS)
    assert {r.tags.get("horizon_min") for r in rows} == {"15", "30"}
    assert all(r.fields["issue_time_ns"] == NOW_NS - STEP_S * SECOND_NS for r in rows)
    store.close()


def test_detectors_come_from_the_store_without_a_network_and_short_history_falls_back(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.write(history(days=1)[-9:])  # three 5-minute readings per detector: too few to fit
    summary = run_once(store, Network(name="empty"), horizons_min=[5], now_ns=NOW_NS)
    assert summary.detectors == 3 and summary.fallbacks == 3 * 2  # speed and flow
    rows = store.range("forecast", NOW_NS - DAY_S * SECOND_NS, NOW_NS + DAY_S * SECOND_NS)
    assert len(rows) == 3 and all("link" not in r.tags for r in rows)
    assert {r.fields["model"] for r in rows} == {"persistence"}
    last = {p.tags: p.fields["speed_kmh"] for p in history(days=1)[-3:]}
    for r in rows:
        tags = (("detector", r.tags["detector"]), ("site", r.tags["site"]))
        assert r.fields["speed_kmh"] == pytest.approx(last[tags])
    store.close()


def test_a_detector_without_data_gets_no_forecast(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    store.write([p for p in history(days=1) if dict(p.tags)["detector"] != "D3"])
    summary = run_once(store, small_network(), horizons_min=[5], now_ns=NOW_NS, history_s=DAY_S)
    assert summary.detectors_with_data == 2
    rows = store.range("forecast", NOW_NS - DAY_S * SECOND_NS, NOW_NS + DAY_S * SECOND_NS)
    assert {r.tags.get("detector") or r.tags["link"] for r in rows} == {"D1", "D2", "L1"}
    store.close()


class DownStore(SqliteStore):
    def aggregate(self, *args: object, **kwargs: object) -> list:  # type: ignore[override]
        raise StoreUnavailable("connection refused")


def test_a_store_outage_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = DownStore(tmp_path / "s.db")
    with caplog.at_level(logging.WARNING, logger="forecasting.live"):
        run_forecaster(store, small_network(), interval_s=60, horizons_min=[5], once=True)
    assert "store error" in caplog.text
    store.close()
