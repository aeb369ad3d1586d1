"""Masked metrics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forecasting import metrics

NAN = float("nan")


def test_missing_pairs_are_left_out() -> None:
    actual = [1.0, 2.0, NAN, 4.0]
    forecast = [2.0, 2.0, 3.0, NAN]
    # Pairs kept: (1, 2) and (2, 2): errors 1 and 0.
    assert metrics.mae(actual, forecast) == pytest.approx(0.5)
    assert metrics.rmse(actual, forecast) == pytest.approx(math.sqrt(0.5))
    assert metrics.mape(actual, forecast) == pytest.approx(50.0)  # (100 % + 0 %) / 2


def test_rmse_weighs_large_errors() -> None:
    actual = np.array([[10.0, 20.0], [30.0, 40.0]])
    forecast = np.array([[13.0, 20.0], [30.0, 36.0]])
    assert metrics.mae(actual, forecast) == pytest.approx(7.0 / 4)
    assert metrics.rmse(actual, forecast) == pytest.approx(math.sqrt(25.0 / 4))
    assert metrics.mape(actual, forecast) == pytest.approx((30.0 + 10.0) / 4)


def test_mape_leaves_out_zero_actuals_but_mae_keeps_them() -> None:
    assert metrics.mape([0.0, 2.0], [1.0, 1.0]) == pytest.approx(50.0)
    assert metrics.mae([0.0, 2.0], [1.0, 1.0]) == pytest.approx(1.0)


def test_nothing_observed_gives_nan() -> None:
    assert math.isnan(metrics.mae([NAN], [1.0]))
    assert math.isnan(metrics.mape([0.0], [1.0]))
    assert math.isnan(metrics.coverage([NAN], [0.0], [1.0]))


def test_coverage_counts_bounds_inclusive() -> None:
    assert metrics.coverage([1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 3.5, 0.0], [1.0, 1.0, 4.0, 9.0]) == 0.5


def test_series_mae_per_column() -> None:
    actual = np.array([[1.0, NAN], [3.0, NAN]])
    forecast = np.array([[2.0, 1.0], [1.0, 1.0]])
    got = metrics.series_mae(actual, forecast)
    assert got[0] == pytest.approx(1.5)
    assert math.isnan(got[1])


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.mae([1.0, 2.0], [1.0])
