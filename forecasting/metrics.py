"""Masked point-forecast errors, pooled over every (time, series) value that is observed.

Missing actuals (NaN) are left out; so are missing forecasts. MAPE (in percent) also leaves out
actuals equal to zero, where it is undefined. With nothing left, a metric is NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _errors(actual: ArrayLike, forecast: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    if a.shape != f.shape:
        raise ValueError(f"shapes differ: actual {a.shape}, forecast {f.shape}")
    ok = ~(np.isnan(a) | np.isnan(f))
    return a[ok], f[ok]


def mae(actual: ArrayLike, forecast: ArrayLike) -> float:
    a, f = _errors(actual, forecast)
    return float(np.mean(np.abs(a - f))) if a.size else float("nan")


def rmse(actual: ArrayLike, forecast: ArrayLike) -> float:
    a, f = _errors(actual, forecast)
    return float(np.sqrt(np.mean((a - f) ** 2))) if a.size else float("nan")


def mape(actual: ArrayLike, forecast: ArrayLike) -> float:
    a, f = _errors(actual, forecast)
    nz = a != 0
    return float(np.mean(np.abs((a[nz] - f[nz]) / a[nz])) * 100.0) if nz.any() else float("nan")


def coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Share of observed actuals inside [lower, upper]."""
    a = np.asarray(actual, dtype=np.float64)
    lo = np.asarray(lower, dtype=np.float64)
    hi = np.asarray(upper, dtype=np.float64)
    ok = ~(np.isnan(a) | np.isnan(lo) | np.isnan(hi))
    if not ok.any():
        return float("nan")
    return float(np.mean((a[ok] >= lo[ok]) & (a[ok] <= hi[ok])))


def series_mae(actual: ArrayLike, forecast: ArrayLike) -> np.ndarray:
    """MAE per series (last axis); NaN for a series without any observed pair."""
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    err = np.abs(a - f)
    n = a.shape[-1]
    flat = err.reshape(-1, n)
    ok = ~np.isnan(flat)
    counts = ok.sum(axis=0)
    sums = np.where(ok, flat, 0.0).sum(axis=0)
    out: np.ndarray = np.divide(sums, counts, out=np.full(n, np.nan), where=counts > 0)
    return out
