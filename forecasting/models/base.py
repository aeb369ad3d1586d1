"""The model interface shared by every forecaster.

A model holds its hyperparameters (constructor arguments) and, after `fit`, its fitted state.
`y` is one series, shape (T,), or a panel of N series, shape (T, N); NaN is a missing value.
`t0` is the absolute step number of `y[0]` (for example `epoch_seconds // step_seconds`): models
with a daily or weekly profile use `(t0 + i) % period` as the slot of row i.

- `fit(y, t0=0) -> self`
- `rolling(y, origins, horizons) -> (len(origins), len(horizons), N)` point forecasts made with
  the fitted parameters (no refit): from origin `o` the model knows `y[:o]` and forecasts
  `y[o + h - 1]` for each horizon `h >= 1`. `y` starts at the same `t0` as the fitted data and
  may extend beyond it (validation and test data).
- `predict(h) -> Forecast` of steps 1..h after the fitted data, with bounds taken from the
  empirical quantiles of the model's own h-step errors on the fitted data.

Subclasses implement `_fit` and `rolling`; `predict` is derived from them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]

CALIBRATION_ORIGINS = 500
"""At most this many of the latest in-sample origins estimate the interval bounds."""


class FitError(ValueError):
    """A model cannot be fitted to this series (too short, constant, all missing...)."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """Point forecast and interval bounds, shape (h,) for one series or (h, N) for a panel."""

    mean: Array
    lower: Array
    upper: Array
    level: float


def as_panel(y: ArrayLike) -> Array:
    """A (T, N) float array from a (T,) or (T, N) input."""
    arr = np.asarray(y, dtype=np.float64)
    if arr.ndim == 1:
        return arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"expected a (T,) or (T, N) array, got shape {arr.shape}")
    return arr


def ffill(y: Array) -> Array:
    """Carry the last observation forward down each column; leading gaps take the first value."""
    out = np.array(y, dtype=np.float64, copy=True)
    t, n = out.shape
    if t == 0:
        return out
    valid = ~np.isnan(out)
    idx = np.where(valid, np.arange(t)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = out[idx, np.arange(n)[None, :]]
    first = np.argmax(valid, axis=0)
    has_any = valid.any(axis=0)
    lead = np.arange(t)[:, None] < first[None, :]
    fill = np.where(has_any, out[first, np.arange(n)], np.nan)
    return np.where(lead, fill[None, :], out)


def interpolate(y: Array) -> Array:
    """Linear interpolation of inner gaps of each column, ends held; all-missing stays NaN."""
    out = np.array(y, dtype=np.float64, copy=True)
    x = np.arange(out.shape[0])
    for j in range(out.shape[1]):
        col = out[:, j]
        ok = ~np.isnan(col)
        if ok.any() and not ok.all():
            out[:, j] = np.interp(x, x[ok], col[ok])
    return out


def check_origins(origins: Sequence[int] | IntArray, horizons: Sequence[int], t: int) -> None:
    if any(h < 1 for h in horizons):
        raise ValueError("horizons start at 1")
    org = np.asarray(origins)
    if org.size and (org.min() < 1 or org.max() > t):
        raise ValueError(f"origins must lie in 1..{t}")


class Model(ABC):
    """Base class: see the module docstring."""

    name: ClassVar[str] = "model"

    def __init__(self, *, level: float = 0.9) -> None:
        if not 0.0 < level < 1.0:
            raise ValueError("level must be in (0, 1)")
        self.level = level
        self._y: Array | None = None
        self._t0 = 0
        self._squeeze = False
        self._quantiles: dict[int, tuple[Array, Array]] = {}

    # -- public interface ------------------------------------------------------------------
    def fit(self, y: ArrayLike, *, t0: int = 0) -> Self:
        arr = np.asarray(y, dtype=np.float64)
        panel = as_panel(arr)
        if panel.shape[0] == 0:
            raise FitError("empty series")
        self._squeeze = arr.ndim == 1
        self._y = panel
        self._t0 = t0
        self._quantiles = {}
        self._fit(panel, t0)
        return self

    @abstractmethod
    def rolling(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> Array:
        """Forecasts of shape (len(origins), len(horizons), N); see the module docstring."""

    def predict(self, h: int) -> Forecast:
        y = self.fitted_data
        steps = list(range(1, h + 1))
        mean = self.rolling(y, [y.shape[0]], steps)[0]  # (h, N)
        lo_q, hi_q = self.error_quantiles(steps)
        lower, upper = mean + lo_q, mean + hi_q
        if self._squeeze:
            mean, lower, upper = mean[:, 0], lower[:, 0], upper[:, 0]
        return Forecast(mean=mean, lower=lower, upper=upper, level=self.level)

    def error_quantiles(self, steps: Sequence[int]) -> tuple[Array, Array]:
        """(lower, upper) quantiles of the in-sample errors at `steps`, each (len(steps), N)."""
        missing = sorted({s for s in steps if s not in self._quantiles})
        if missing:
            y = self.fitted_data
            t = y.shape[0]
            first = max(1, t - max(missing) - CALIBRATION_ORIGINS + 1)
            origins = np.arange(first, max(first, t - min(missing) + 1))
            fc = self.rolling(y, origins, missing) if origins.size else None
            alpha = (1.0 - self.level) / 2.0
            for k, s in enumerate(missing):
                errs = np.full((1, y.shape[1]), np.nan)
                if fc is not None:
                    target = origins + s - 1
                    ok = target < t
                    if ok.any():
                        errs = y[target[ok]] - fc[ok, k, :]
                self._quantiles[s] = _nan_quantiles(errs, alpha)
        lows = np.stack([self._quantiles[s][0] for s in steps])
        highs = np.stack([self._quantiles[s][1] for s in steps])
        return lows, highs

    @property
    def fitted_data(self) -> Array:
        if self._y is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted")
        return self._y

    # -- for subclasses ----------------------------------------------------------------------
    @abstractmethod
    def _fit(self, y: Array, t0: int) -> None: ...

    def _panel(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> tuple[Array, IntArray]:
        panel = as_panel(np.asarray(y, dtype=np.float64))
        if self._y is not None and panel.shape[1] != self._y.shape[1]:
            raise ValueError(f"fitted on {self._y.shape[1]} series, got {panel.shape[1]}")
        check_origins(origins, horizons, panel.shape[0])
        return panel, np.asarray(origins, dtype=np.int64)


def _nan_quantiles(errs: Array, alpha: float) -> tuple[Array, Array]:
    """Per-column (alpha, 1 - alpha) error quantiles ignoring NaN; NaN for an empty column."""
    lo, hi = masked_quantiles(errs, [alpha, 1.0 - alpha])
    return lo, hi


def masked_quantiles(values: Array, qs: Sequence[float]) -> Array:
    """Quantiles (linear interpolation) of each column of `values` over its non-NaN entries;
    shape (len(qs), N). One sort, instead of numpy's slow per-column path for NaN."""
    ordered = np.sort(values, axis=0)  # NaN sort last
    count = np.count_nonzero(~np.isnan(values), axis=0)
    out = np.full((len(qs), values.shape[1]), np.nan)
    has = count > 0
    cols = np.flatnonzero(has)
    for i, q in enumerate(qs):
        pos = q * (count[has] - 1)
        below = np.floor(pos).astype(np.int64)
        above = np.minimum(below + 1, count[has] - 1)
        frac = pos - below
        out[i, has] = ordered[below, cols] * (1 - frac) + ordered[above, cols] * frac
    return out


def slots(t0: int, t: int, period: int) -> IntArray:
    """Seasonal slot of rows 0..t-1."""
    return ((t0 + np.arange(t)) % period).astype(np.int64)


def seasonal_profile(y: Array, t0: int, period: int, smooth: int = 0) -> Array:
    """(period, N) mean of each slot, averaged over +-`smooth` neighbouring slots (circular).

    A slot never observed takes the series mean; a series never observed stays NaN.
    """
    t, n = y.shape
    s = slots(t0, t, period)
    ok = ~np.isnan(y)
    sums = np.zeros((period, n))
    counts = np.zeros((period, n))
    np.add.at(sums, s, np.where(ok, y, 0.0))
    np.add.at(counts, s, ok.astype(np.float64))
    if smooth > 0:
        sums = sum(
            (np.roll(sums, k, axis=0) for k in range(-smooth, smooth + 1)), np.zeros_like(sums)
        )
        counts = sum(
            (np.roll(counts, k, axis=0) for k in range(-smooth, smooth + 1)), np.zeros_like(counts)
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = sums / counts
        col_mean = np.nansum(np.where(ok, y, 0.0), axis=0) / ok.sum(axis=0)
    return np.where(counts > 0, prof, col_mean[None, :])
