"""AR(p) per series by ordinary least squares, vectorised across series.

The estimator is that of statsmodels `AutoReg(y, lags=p, trend="c")` (conditional least squares
with a constant), solved for all series at once with batched normal equations; multi-step
forecasts are iterated. Rows with a missing lag or target are left out of a series' fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from forecasting.models.base import Array, FitError, IntArray, Model, ffill


def lag_matrix(y: Array, rows: IntArray, p: int) -> Array:
    """(len(rows), N, p) with lag k+1 of row r at [..., k] = y[r - k - 1]."""
    return np.stack([y[rows - k - 1] for k in range(p)], axis=-1)


def batched_ridge(x: Array, target: Array, weight: Array, penalty: Array) -> Array:
    """Weighted least squares per series: x (N, R, F), target (N, R), weight (N, R), and
    `penalty` (F,) or (N, F) added to the diagonal -> coefficients (N, F) in float64.

    The products run in the dtype of `x` (float32 halves the time); the solve is float64."""
    xw = x * weight[..., None].astype(x.dtype)
    xwt = xw.transpose(0, 2, 1)
    gram = np.matmul(xwt, x).astype(np.float64)
    rhs = np.matmul(xwt, target[..., None].astype(x.dtype)).astype(np.float64)
    f = x.shape[-1]
    scale = np.trace(gram, axis1=1, axis2=2)[:, None, None] / f
    eye = np.eye(f)
    gram = gram + np.asarray(penalty, dtype=np.float64)[..., None, :] * eye
    gram = gram + eye * 1e-10 * (scale + 1.0)
    solved: Array = np.linalg.solve(gram, rhs)[..., 0]
    return solved


class AutoRegressive(Model):
    """AR(p) with a constant, one set of coefficients per series."""

    name = "ar"

    def __init__(self, p: int = 12, *, level: float = 0.9) -> None:
        super().__init__(level=level)
        if p < 1:
            raise ValueError("p must be >= 1")
        self.p = p
        self._coef: Array | None = None  # (N, p + 1): constant, lag 1..p

    def _fit(self, y: Array, t0: int) -> None:
        t = y.shape[0]
        if t <= 2 * self.p + 1:
            raise FitError(f"AR({self.p}) needs more than {2 * self.p + 1} values, got {t}")
        rows = np.arange(self.p, t)
        lags = lag_matrix(y, rows, self.p)  # (R, N, p)
        target = y[rows]  # (R, N)
        ok = ~(np.isnan(target) | np.isnan(lags).any(axis=-1))
        x = np.concatenate([np.ones((*lags.shape[:-1], 1)), np.nan_to_num(lags)], axis=-1)
        weight = ok.T.astype(np.float64)
        coef = batched_ridge(x.transpose(1, 0, 2), np.nan_to_num(target).T, weight, np.zeros(1))
        # Too few complete rows: hold the mean (coefficients on lags zero).
        few = weight.sum(axis=1) <= self.p + 1
        if few.any():
            means = np.nanmean(np.where(ok, target, np.nan), axis=0)
            coef[few] = 0.0
            coef[few, 0] = np.nan_to_num(means[few])
        self._coef = coef

    def rolling(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> Array:
        panel, org = self._panel(y, origins, horizons)
        assert self._coef is not None, "AutoRegressive is not fitted"
        filled = ffill(panel)
        # Origins earlier than p pad with the first value.
        padded = np.concatenate([np.repeat(filled[:1], self.p, axis=0), filled], axis=0)
        hist = lag_matrix(padded, org + self.p, self.p)  # (O, N, p) lag 1..p
        const, phi = self._coef[:, 0], self._coef[:, 1:]
        wanted = {h: k for k, h in enumerate(horizons)}
        out = np.empty((len(org), len(horizons), panel.shape[1]))
        for step in range(1, max(horizons) + 1):
            nxt = const + np.einsum("onp,np->on", hist, phi)
            if step in wanted:
                out[:, wanted[step], :] = nxt
            hist = np.concatenate([nxt[..., None], hist[..., :-1]], axis=-1)
        return out
