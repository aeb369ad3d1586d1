"""Forecasting models with one interface (see `base`), and a registry by name.

| name | class | fitted | vectorised across series |
| --- | --- | --- | --- |
| persistence | Persistence | - | yes |
| seasonal_naive | SeasonalNaive | - | yes |
| historical_average | HistoricalAverage (by time of day, or of week with >= 2 weeks) | mean | yes |
| ar12 | AutoRegressive(p=12) | OLS | yes |
| holt_winters | HoltWinters (statsmodels ExponentialSmoothing) | MLE | no (loop) |
| arima | Arima (statsmodels ARIMA, profile as exog) | Hannan-Rissanen | no (loop) |
| network_ridge | NetworkRidge (own + neighbour lags + profile) | robust ridge | yes |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from forecasting.models.autoregressive import AutoRegressive
from forecasting.models.base import FitError, Forecast, Model
from forecasting.models.naive import HistoricalAverage, Persistence, SeasonalNaive
from forecasting.models.network import NetworkRidge
from forecasting.models.statistical import Arima, HoltWinters, PerSeriesModel

__all__ = [
    "MODEL_NAMES",
    "Arima",
    "AutoRegressive",
    "Context",
    "FitError",
    "Forecast",
    "HistoricalAverage",
    "HoltWinters",
    "Model",
    "NetworkRidge",
    "PerSeriesModel",
    "Persistence",
    "SeasonalNaive",
    "candidates",
]

MODEL_NAMES = (
    "persistence",
    "seasonal_naive",
    "historical_average",
    "ar12",
    "holt_winters",
    "arima",
    "network_ridge",
)


@dataclass(frozen=True)
class Context:
    """What the registry needs to know about the data: steps per day (None when the step does
    not divide a day), the number of rows available for fitting, and the adjacency matrix."""

    period: int | None
    n_fit: int
    adjacency: NDArray[Any] | None = None
    horizons: tuple[int, ...] = ()


def _ha_period(ctx: Context) -> int:
    if ctx.period is None:
        return 1
    week = ctx.period * 7
    return week if ctx.n_fit >= 2 * week else ctx.period


def candidates(name: str, ctx: Context) -> list[tuple[str, Model]]:
    """Configurations of model `name` to choose from on the validation part: (label, model)."""
    p = ctx.period
    if name == "persistence":
        return [("", Persistence())]
    if name == "seasonal_naive":
        return [(f"period={p}", SeasonalNaive(p))] if p else [("period=1", SeasonalNaive(1))]
    if name == "historical_average":
        hp = _ha_period(ctx)
        return [(f"period={hp},smooth={s}", HistoricalAverage(hp, smooth=s)) for s in (0, 2)]
    if name == "ar12":
        return [("p=12", AutoRegressive(12))]
    if name == "holt_winters":
        return [("trend=none", HoltWinters(period=p))]
    if name == "arima":
        return [("order=(2,0,1)", Arima((2, 0, 1), period=p))]
    if name == "network_ridge":
        grid: Mapping[str, list[float]] = {"alpha": [0.01, 0.03, 0.1]}
        return [
            (
                f"alpha={a}",
                NetworkRidge(adjacency=ctx.adjacency, period=p, alpha=a, horizons=ctx.horizons),
            )
            for a in grid["alpha"]
        ]
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
