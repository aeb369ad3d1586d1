"""Benchmarks that need no estimation: persistence, seasonal naive, historical average.

All three are vectorised across series and never fail on a series with data; they are the
fallbacks of the estimated models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from forecasting.models.base import Array, IntArray, Model, ffill, seasonal_profile


class Persistence(Model):
    """The last observed value, for every horizon."""

    name = "persistence"

    def _fit(self, y: Array, t0: int) -> None:
        return None

    def rolling(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> Array:
        panel, org = self._panel(y, origins, horizons)
        last = ffill(panel)[org - 1]  # (O, N)
        return np.repeat(last[:, None, :], len(horizons), axis=1)


class SeasonalNaive(Model):
    """The value one season earlier than the target (the latest season known at the origin)."""

    name = "seasonal_naive"

    def __init__(self, period: int, *, level: float = 0.9) -> None:
        super().__init__(level=level)
        if period < 1:
            raise ValueError("period must be >= 1")
        self.period = period

    def _fit(self, y: Array, t0: int) -> None:
        return None

    def rolling(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> Array:
        panel, org = self._panel(y, origins, horizons)
        filled = ffill(panel)
        out = np.empty((len(org), len(horizons), panel.shape[1]))
        for k, h in enumerate(horizons):
            back = self.period * int(np.ceil(h / self.period))
            src = org + h - 1 - back
            # Before the first season: the first value (persistence of the earliest data).
            out[:, k, :] = filled[np.maximum(src, 0)]
        return out


class HistoricalAverage(Model):
    """The mean of the fitted data at the target's slot of the day (or week).

    `period` is the number of steps of one season (288 for a day of 5-minute steps, 2016 for a
    week); `smooth` averages each slot with its neighbours, which matters with few seasons.
    """

    name = "historical_average"

    def __init__(self, period: int, *, smooth: int = 0, level: float = 0.9) -> None:
        super().__init__(level=level)
        if period < 1:
            raise ValueError("period must be >= 1")
        self.period = period
        self.smooth = smooth
        self._profile: Array | None = None

    def _fit(self, y: Array, t0: int) -> None:
        self._profile = seasonal_profile(y, t0, self.period, self.smooth)

    @property
    def profile(self) -> Array:
        if self._profile is None:
            raise RuntimeError("HistoricalAverage is not fitted")
        return self._profile

    def rolling(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> Array:
        _, org = self._panel(y, origins, horizons)
        target = org[:, None] + np.asarray(horizons)[None, :] - 1  # (O, H)
        out: Array = self.profile[(self._t0 + target) % self.period]  # (O, H, N)
        return out
