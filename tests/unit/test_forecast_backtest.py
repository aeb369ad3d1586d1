"""The backtest tool on tiny CSVs with missing values, and its error cases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from forecasting.backtest import format_table, run_backtest, split
from forecasting.cli import backtest_command
from forecasting.data import ForecastDataError, load_wide_csv

KEYS = {
    "series",
    "test_points",
    "horizons",
    "models",
    "best",
    "fit_seconds",
    "predict_seconds",
    "series_per_second",
}


def hourly_csv(path: Path, rows: int = 200, seed: int = 0) -> np.ndarray:
    """Three hourly volume series with a daily profile and blanks; returns the values."""
    rng = np.random.default_rng(seed)
    hour = np.arange(rows) % 24
    base = 300 + 250 * np.sin(np.pi * hour / 24) ** 2
    values = np.column_stack([base, 0.5 * base + 40, base[::-1]]) + rng.normal(0, 15, (rows, 3))
    values = np.round(values)
    values[rng.random(values.shape) < 0.08] = np.nan
    start = datetime(2024, 3, 4, tzinfo=UTC)
    lines = ["time,north_vph,south_vph,east_vph,comment"]
    for i in range(rows):
        stamp = (start + timedelta(hours=i)).isoformat()
        cells = ["" if np.isnan(v) else f"{v:.0f}" for v in values[i]]
        lines.append(",".join([stamp, *cells, "ok"]))
    path.write_text("\n".join(lines) + "\n")
    return values


def test_backtest_on_a_tiny_csv_with_missing_values(tmp_path: Path) -> None:
    values = hourly_csv(tmp_path / "volumes.csv")
    out = tmp_path / "result.json"
    result = run_backtest(
        tmp_path / "volumes.csv",
        freq="1h",
        horizons=[1, 2],
        models=["persistence", "historical_average", "ar12", "network_ridge"],
        json_out=out,
        progress=False,
    )
    assert set(result) >= KEYS
    assert result == json.loads(out.read_text())
    assert result["series"] == 3
    val_start, test_start = split(200)
    assert (val_start, test_start) == (140, 160)
    assert result["test_points"] == 40
    assert result["horizons"] == [1, 2]
    assert result["dropped_columns"] == ["comment"]
    for entry in result["models"].values():
        for key in ("mae", "rmse", "mape"):
            assert len(entry[key]) == 2
            assert all(v is not None and v >= 0 for v in entry[key])
    assert result["best"] in result["models"]
    # Persistence by hand: the last observed value before the origin, targets in the test
    # part only, blanks out of the metric.
    filled = values.copy()
    for t in range(1, len(filled)):
        filled[t] = np.where(np.isnan(filled[t]), filled[t - 1], filled[t])
    for k, h in enumerate([1, 2]):
        target = np.arange(test_start, 200)
        err = np.abs(values[target] - filled[target - h])
        assert result["models"]["persistence"]["mae"][k] == pytest.approx(np.nanmean(err))
    table = format_table(result)
    assert "persistence" in table and "MAE@2" in table and "*" in table


def test_adjacency_and_start_are_used(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data = 60 + rng.normal(0, 2, (120, 2)).cumsum(axis=0) * 0.1
    (tmp_path / "speeds.csv").write_text(
        "a,b\n" + "\n".join(f"{x:.2f},{y:.2f}" for x, y in data) + "\n"
    )
    (tmp_path / "adj.csv").write_text("1,0.5\n0.5,1\n")
    result = run_backtest(
        tmp_path / "speeds.csv",
        freq="5min",
        start=datetime(2024, 1, 1),
        horizons=[3],
        adjacency=tmp_path / "adj.csv",
        models=["network_ridge"],
        progress=False,
    )
    assert list(result["models"]) == ["network_ridge"]
    assert result["best"] == "network_ridge"


def test_mask_zeros_removes_zeros_from_metrics(tmp_path: Path) -> None:
    rows = ["v"] + ["0" if i % 4 == 0 else str(50 + i % 3) for i in range(100)]
    (tmp_path / "z.csv").write_text("\n".join(rows) + "\n")
    kept = run_backtest(tmp_path / "z.csv", horizons=[1], models=["persistence"], progress=False)
    masked = run_backtest(
        tmp_path / "z.csv", horizons=[1], models=["persistence"], mask_zeros=True, progress=False
    )
    assert masked["models"]["persistence"]["mae"][0] < kept["models"]["persistence"]["mae"][0]


def test_time_column_rows_are_put_on_a_regular_grid(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(
        "ts,x\n2024-01-01T00:10:00Z,3\n2024-01-01T00:00:00Z,1\n2024-01-01T00:20:00Z,4\n"
    )
    panel = load_wide_csv(tmp_path / "t.csv", freq="5min")
    np.testing.assert_array_equal(panel.values[:, 0], [1, np.nan, 3, np.nan, 4])
    assert panel.t0 == int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) // 300
    assert panel.period == 288


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("a,b\n1,2\n3,4,5,6\n", "malformed CSV"),
        ("", "empty file"),
        ("name,kind\nx,y\nz,w\n", "no numeric column"),
        ("a\n" + "\n".join(str(i) for i in range(10)) + "\n", "too short for horizon 12"),
        ("time,a\nyesterday,1\nnope,2\n", "are not times"),
    ],
)
def test_clear_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(ForecastDataError, match=message):
        run_backtest(tmp_path / "bad.csv", time_column=None, horizons=[3, 6, 12], progress=False)


def test_bad_arguments(tmp_path: Path) -> None:
    hourly_csv(tmp_path / "v.csv")
    with pytest.raises(ForecastDataError, match="unknown model"):
        run_backtest(tmp_path / "v.csv", freq="1h", models=["prophet"], progress=False)
    (tmp_path / "adj.csv").write_text("1,0\n0,1\n")
    with pytest.raises(ForecastDataError, match="adjacency is 2x2"):
        run_backtest(tmp_path / "v.csv", freq="1h", adjacency=tmp_path / "adj.csv", progress=False)
    with pytest.raises(ForecastDataError, match="no column 'when'"):
        run_backtest(tmp_path / "v.csv", freq="1h", time_column="when", progress=False)
    with pytest.raises(ForecastDataError, match="no such file"):
        run_backtest(tmp_path / "missing.csv", progress=False)


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("backtest")(backtest_command)
    app.command("noop")(lambda: None)  # a group, so that "backtest" is a subcommand
    return app


def test_cli_prints_the_table_and_writes_json(tmp_path: Path) -> None:
    hourly_csv(tmp_path / "v.csv")
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        cli(),
        [
            "backtest",
            "--csv",
            str(tmp_path / "v.csv"),
            "--freq",
            "1h",
            "--horizons",
            "1,3",
            "--models",
            "persistence,ar12",
            "--json",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "ar12" in result.output
    assert json.loads(out.read_text())["horizons"] == [1, 3]


def test_cli_reports_bad_input_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("name\nx\n")
    result = CliRunner().invoke(cli(), ["backtest", "--csv", str(tmp_path / "bad.csv")])
    assert result.exit_code == 2
    assert "no numeric column" in result.output
    result = CliRunner().invoke(cli(), ["backtest", "--csv", "x.csv", "--horizons", "a,b"])
    assert result.exit_code == 2


def test_epoch_seconds_in_a_time_column(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("timestamp,x\n1700000000,1\n1700003600,2\n")
    panel = load_wide_csv(tmp_path / "e.csv", freq="1h")
    np.testing.assert_array_equal(panel.values[:, 0], [1, 2])
    assert panel.t0 == 1_700_000_000 // 3600
