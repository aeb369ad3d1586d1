"""Accuracy target of issue 5 on the METR-LA week in ../shared/data/metr-la (read in place):
the baselines are reproduced and the network model beats them at every horizon."""

from __future__ import annotations

from pathlib import Path

import pytest

from forecasting.backtest import run_backtest

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "metr-la"
TARGET_MAE = [3.30, 4.05, 4.99]
PERSISTENCE_MAE = [3.54, 4.33, 5.71]
AR12_MAE = [3.44, 4.28, 5.54]


@pytest.mark.slow
def test_metr_la_accuracy_target() -> None:
    assert (DATA / "los_speed.csv").is_file(), f"METR-LA slice not found at {DATA}"
    result = run_backtest(
        DATA / "los_speed.csv",
        freq="5min",
        horizons=[3, 6, 12],
        adjacency=DATA / "los_adj.csv",
        models=["persistence", "ar12", "network_ridge"],
        progress=False,
    )
    models = result["models"]
    assert result["series"] == 207
    assert result["test_points"] == 403
    assert models["persistence"]["mae"] == pytest.approx(PERSISTENCE_MAE, abs=0.005)
    assert models["ar12"]["mae"] == pytest.approx(AR12_MAE, abs=0.005)
    assert result["best"] == "network_ridge"  # chosen on the validation part
    for mae, target, ar, persist in zip(
        models["network_ridge"]["mae"], TARGET_MAE, AR12_MAE, PERSISTENCE_MAE, strict=True
    ):
        assert mae <= target
        assert mae < ar and mae < persist
