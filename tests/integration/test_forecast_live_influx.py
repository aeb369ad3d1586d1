"""The live forecaster writes forecasts to a real InfluxDB."""

from __future__ import annotations

import pytest

from citytraffic.storage.influx import InfluxStore
from citytraffic.storage.influx_process import InfluxServer
from forecasting.live import run_forecaster
from forecasting.testing import (
    DAY_S,
    NOW_NS,
    SECOND_NS,
    STEP_S,
    history,
    small_network,
    speed_kmh,
)


@pytest.mark.integration
def test_live_forecaster_writes_forecasts_to_influxdb(influxd: InfluxServer) -> None:
    store = InfluxStore(influxd.url, "forecast_live")
    try:
        store.write(history(days=2))
        for _ in range(2):  # a second run for the same data overwrites, it does not duplicate
            run_forecaster(
                store,
                small_network(),
                interval_s=60,
                horizons_min=[5, 15, 60],
                once=True,
                history_s=2 * DAY_S,
                clock_ns=lambda: NOW_NS + 30 * SECOND_NS,
            )
        rows = store.range("forecast", NOW_NS - DAY_S * SECOND_NS, NOW_NS + DAY_S * SECOND_NS)
    finally:
        store.close()
    issue_ns = NOW_NS - STEP_S * SECOND_NS  # the last complete 5-minute bucket
    detector_rows = [r for r in rows if "detector" in r.tags]
    link_rows = [r for r in rows if "link" in r.tags]
    assert len(detector_rows) == 3 * 3  # 3 detectors x 3 horizons
    assert len(link_rows) == 2 * 3  # 2 links x 3 horizons
    for row in detector_rows:
        minutes = int(row.tags["horizon_min"])
        assert row.time_ns == issue_ns + minutes * 60 * SECOND_NS  # time = target
        assert row.fields["issue_time_ns"] == issue_ns
        assert row.fields["model"] == "network_ridge"
        f = row.fields
        assert f["speed_kmh_lower"] <= f["speed_kmh"] <= f["speed_kmh_upper"]
        assert f["flow_vph_lower"] <= f["flow_vph"] <= f["flow_vph_upper"]
        k = int(row.tags["detector"][1]) - 1
        truth = speed_kmh(row.time_ns // SECOND_NS, k)
        assert abs(f["speed_kmh"] - truth) < 5.0, (row.tags, f["speed_kmh"], truth)
    l1 = next(r for r in link_rows if r.tags == {"link": "L1", "horizon_min": "5"})
    d1, d2 = (
        next(r for r in detector_rows if r.tags["detector"] == d and r.tags["horizon_min"] == "5")
        for d in ("D1", "D2")
    )
    assert l1.fields["flow_vph"] == pytest.approx(d1.fields["flow_vph"] + d2.fields["flow_vph"])
