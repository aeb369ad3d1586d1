"""Holt-Winters (ETS) and ARIMA(X) through statsmodels, one fit per series, with a fallback.

statsmodels estimates the parameters of each series; forecasts from many origins then run the
model's own recursions with those parameters (a numpy filter for Holt-Winters, the state-space
filter of the fitted ARIMA for ARIMA), so a backtest over hundreds of origins costs one pass.

A series whose fit raises (too short, constant, not converging, all missing) is forecast by the
fallback model (persistence); the indices of those series are in `failed`.
"""

from __future__ import annotations

import logging
import warnings
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from forecasting.models.base import (
    Array,
    FitError,
    IntArray,
    Model,
    interpolate,
    seasonal_profile,
    slots,
)
from forecasting.models.naive import Persistence

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


class PerSeriesModel(Model):
    """Loops a per-series estimator over the columns; failed series go to the fallback."""

    def __init__(self, *, period: int | None = None, level: float = 0.9) -> None:
        super().__init__(level=level)
        self.period = period
        self.failed: list[int] = []
        self._fallback: Model | None = None
        self._params: dict[int, Any] = {}
        self.progress: Progress | None = None

    def _make_fallback(self, n_obs: int) -> Model:
        return Persistence(level=self.level)

    def _fit(self, y: Array, t0: int) -> None:
        self.failed, self._params = [], {}
        for j in range(y.shape[1]):
            col = y[:, j]
            try:
                if np.isnan(col).all():
                    raise FitError("no observed value")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._params[j] = self._fit_one(col, t0)
            except (FitError, ValueError, np.linalg.LinAlgError, IndexError) as exc:
                log.debug("%s: series %d falls back: %s", self.name, j, exc)
                self.failed.append(j)
            if self.progress is not None:
                self.progress(1)
        self._fallback = None
        if self.failed:
            self._fallback = self._make_fallback(y.shape[0]).fit(y[:, self.failed], t0=t0)

    def rolling(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> Array:
        panel, org = self._panel(y, origins, horizons)
        out = np.full((len(org), len(horizons), panel.shape[1]), np.nan)
        for j, params in self._params.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[:, :, j] = self._rolling_one(params, panel[:, j], org, horizons)
        if self._fallback is not None:
            out[:, :, self.failed] = self._fallback.rolling(panel[:, self.failed], org, horizons)
        return out

    @abstractmethod
    def _fit_one(self, y: Array, t0: int) -> Any: ...

    @abstractmethod
    def _rolling_one(
        self, params: Any, y: Array, origins: IntArray, horizons: Sequence[int]
    ) -> Array: ...


class HoltWinters(PerSeriesModel):
    """Additive Holt-Winters (ETS(A, Ad or N, A)) by statsmodels `ExponentialSmoothing`.

    `trend=True` adds a damped additive trend (five times slower to fit). With fewer than two
    seasons of data the seasonal part is dropped (simple exponential smoothing).
    """

    name = "holt_winters"

    def __init__(
        self, *, period: int | None = None, trend: bool = False, level: float = 0.9
    ) -> None:
        super().__init__(period=period, level=level)
        self.trend = trend

    def _fit_one(self, y: Array, t0: int) -> dict[str, Any]:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        filled = interpolate(y[:, None])[:, 0]
        if len(filled) < 10:
            raise FitError("Holt-Winters needs at least 10 values")
        seasonal = self.period if self.period and len(filled) >= 2 * self.period else None
        model = ExponentialSmoothing(
            filled,
            trend="add" if self.trend else None,
            damped_trend=self.trend,
            seasonal="add" if seasonal else None,
            seasonal_periods=seasonal,
            initialization_method="heuristic" if seasonal else "estimated",
        )
        p = model.fit().params
        if not np.isfinite(p["smoothing_level"]):
            raise FitError("Holt-Winters did not converge")
        return {
            "alpha": float(p["smoothing_level"]),
            "beta": float(np.nan_to_num(p.get("smoothing_trend", 0.0))) if self.trend else 0.0,
            "gamma": float(np.nan_to_num(p.get("smoothing_seasonal", 0.0))) if seasonal else 0.0,
            "phi": float(np.nan_to_num(p.get("damping_trend", 1.0))) if self.trend else 0.0,
            "l0": float(p["initial_level"]),
            "b0": float(np.nan_to_num(p.get("initial_trend", 0.0))) if self.trend else 0.0,
            "s0": np.asarray(p["initial_seasons"], dtype=np.float64) if seasonal else np.zeros(1),
        }

    def _rolling_one(
        self, params: dict[str, Any], y: Array, origins: IntArray, horizons: Sequence[int]
    ) -> Array:
        return holt_winters_rolling(params, y, origins, horizons)


def holt_winters_rolling(
    params: dict[str, Any], y: Array, origins: IntArray, horizons: Sequence[int]
) -> Array:
    """Run the additive Holt-Winters recursions over `y` (a missing value takes its one-step
    forecast) and return the (O, H) forecasts made at `origins`."""
    a, b_, g, phi = params["alpha"], params["beta"], params["gamma"], params["phi"]
    season = np.array(params["s0"], dtype=np.float64, copy=True)
    m = len(season)
    level, trend = params["l0"], params["b0"]
    hs = np.asarray(horizons)
    damp = np.cumsum(phi ** np.arange(1, hs.max() + 1))[hs - 1]  # phi + ... + phi^h
    wanted: dict[int, list[int]] = {}
    for i, o in enumerate(origins.tolist()):
        wanted.setdefault(int(o), []).append(i)
    out = np.empty((len(origins), len(hs)))
    values = y.tolist()
    for t in range(len(values) + 1):
        if t in wanted:  # origin t knows y[:t]
            fc = level + damp * trend + season[(t + hs - 1) % m]
            out[wanted[t]] = fc
        if t == len(values):
            break
        s = season[t % m]
        base = level + phi * trend
        obs = values[t]
        if obs != obs:  # NaN: the state follows its own forecast
            obs = base + s
        new_level = a * (obs - s) + (1 - a) * base
        trend = b_ * (new_level - level) + (1 - b_) * phi * trend
        season[t % m] = g * (obs - base) + (1 - g) * s
        level = new_level
    return out


class Arima(PerSeriesModel):
    """ARIMA(p, d, q) with a constant, by statsmodels, optionally with the time-of-day profile
    of the training data as exogenous regressor (ARIMAX: regression with ARMA errors).

    `fit_method` is statsmodels' `ARIMA.fit(method=...)`: "hannan_rissanen" (default, fast
    regressions) or "statespace" (exact MLE, about 15 times slower).
    """

    name = "arima"

    def __init__(
        self,
        order: tuple[int, int, int] = (2, 0, 1),
        *,
        period: int | None = None,
        profile_exog: bool = True,
        fit_method: str = "hannan_rissanen",
        level: float = 0.9,
    ) -> None:
        super().__init__(period=period, level=level)
        self.order = order
        self.profile_exog = profile_exog
        self.fit_method = fit_method

    def _exog(self, profile: Array | None, t0: int, t: int) -> Array | None:
        if profile is None or self.period is None:
            return None
        return profile[slots(t0, t, self.period)][:, None]

    def _fit_one(self, y: Array, t0: int) -> dict[str, Any]:
        from statsmodels.tsa.arima.model import ARIMA

        if np.count_nonzero(~np.isnan(y)) < 3 * sum(self.order) + 10:
            raise FitError("too few values for ARIMA")
        filled = interpolate(y[:, None])[:, 0]
        profile = None
        if self.profile_exog and self.period and len(y) >= self.period:
            # Smooth over +-10 minutes of 5-minute data, not at all for hourly data.
            smooth = self.period // 144
            profile = seasonal_profile(y[:, None], t0, self.period, smooth=smooth)[:, 0]
        trend = "c" if self.order[1] == 0 else "n"
        model = ARIMA(filled, exog=self._exog(profile, t0, len(y)), order=self.order, trend=trend)
        try:
            result = model.fit(method=self.fit_method, cov_type="none")
        except ValueError:
            if self.fit_method == "statespace":
                raise
            # Hannan-Rissanen's GLS refuses near-unit-root estimates; exact MLE keeps the
            # parameters stationary (slower, so only for those series).
            result = model.fit(method="statespace", cov_type="none")
        if not np.all(np.isfinite(result.params)):
            raise FitError("ARIMA did not converge")
        return {"result": result, "profile": profile, "t0": t0}

    def _rolling_one(
        self, params: dict[str, Any], y: Array, origins: IntArray, horizons: Sequence[int]
    ) -> Array:
        res, profile, t0 = params["result"], params["profile"], params["t0"]
        hmax = max(horizons)
        t = len(y)
        exog_all = self._exog(profile, t0, t + hmax)
        applied = res.apply(y, exog=None if exog_all is None else exog_all[:t])
        fr = applied.filter_results
        z = np.asarray(fr.design)[0, :, 0]
        trans = np.asarray(fr.transition)[:, :, 0]
        c = np.asarray(fr.state_intercept)[:, 0]
        intercept = np.zeros(t + hmax)
        for name in res.model.exog_names or []:  # "const" and/or "x1" (the profile)
            coef = float(res.params[res.model.param_names.index(name)])
            regressor = exog_all[:, 0] if name == "x1" and exog_all is not None else 1.0
            intercept = intercept + coef * regressor
        state = np.asarray(fr.predicted_state)[:, origins]  # (k, O): state of time o given y[:o]
        idx = {h: i for i, h in enumerate(horizons)}
        out = np.empty((len(origins), len(horizons)))
        for j in range(hmax):  # forecast of y[o + j], i.e. horizon j + 1
            if j + 1 in idx:
                out[:, idx[j + 1]] = z @ state + intercept[origins + j]
            state = trans @ state + c[:, None]
        return out
