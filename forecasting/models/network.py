"""A network-aware direct regression, fitted for all detectors at once with numpy.

For each series and each horizon h, a robust ridge regression predicts the change
`y[t+h] - y[t]` from (all differences, so a zero coefficient vector is persistence):

- own recent changes `y[t] - y[t-k]`, k = 1..lags-1;
- the neighbours' weighted mean relative to the series (`nb[t] - y[t]`) and its recent changes
  `nb[t] - nb[t-k]`, k = 1..neighbour_lags-1, with weights from the adjacency matrix
  (row-normalised, diagonal ignored, kept sparse); a detector without neighbours gets zeros;
- the time-of-day profile (the training mean at the same slot, smoothed over +-`smooth` slots):
  `profile[t+h] - y[t]` and `profile[t+h] - profile[t]`;
- a constant.

The ridge penalty is `alpha` per row on standardised features (each series, each feature).
`huber_iterations` rounds of iteratively reweighted least squares with Huber weights
(c = 1.345 robust sigmas of the first fit) make the fit robust to incidents, which also lowers
the MAE. Each round corrects the Gram matrix only over the rows whose weight changed.

Every series has its own coefficients, solved in batched `numpy.linalg.solve` calls over chunks
of series (bounded memory; `workers` threads share the chunks, numpy releases the GIL). The
horizons in `horizons` are fitted by `fit`, any other lazily on first use. `row_stride` fits
on every k-th row (neighbouring rows are strongly correlated: 2 halves the cost for a small
loss). Products run in float32, solves in float64. A series with too few complete rows keeps
zero coefficients (persistence): that is the fallback.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse

from forecasting.models.base import (
    Array,
    FitError,
    IntArray,
    Model,
    ffill,
    masked_quantiles,
    seasonal_profile,
)

F32 = NDArray[np.float32]
HUBER_C = 1.345
SIGMA_STRIDE = 3  # the robust scale of the residuals is taken on every third row
CHUNK = 512  # series per batched fit: memory about CHUNK x rows x 40 floats


def _robust_sigma(resid: F32, ok: NDArray[np.bool_]) -> Array:
    """1.4826 x the median absolute residual of each series over its complete rows."""
    if ok.all():
        med = np.median(resid, axis=1)
    else:
        med = np.nan_to_num(masked_quantiles(np.where(ok, resid, np.nan).T, [0.5])[0])
    return np.asarray(med, dtype=np.float64) * 1.4826


def _solve(gram: Array, rhs: Array, penalty: Array) -> Array:
    """Batched ridge solve: gram (..., F, F), rhs (..., F), penalty (..., F) on the diagonal."""
    f = gram.shape[-1]
    eye = np.eye(f)
    scale = np.trace(gram, axis1=-2, axis2=-1)[..., None, None] / f
    lhs = gram + penalty[..., None, :] * eye + eye * 1e-9 * (scale + 1.0)
    out: Array = np.linalg.solve(lhs, rhs[..., None])[..., 0]
    return out


def neighbour_weights(adjacency: ArrayLike | sparse.spmatrix) -> sparse.csr_matrix:
    """Row-normalised weights without self-loops (sparse); an isolated node has an empty row."""
    w = sparse.csr_matrix(abs(sparse.csr_matrix(adjacency, dtype=np.float64)))
    if w.shape[0] != w.shape[1]:
        raise ValueError(f"adjacency must be square, got shape {w.shape}")
    w.setdiag(0.0)
    w.eliminate_zeros()
    sums = np.asarray(w.sum(axis=1)).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sparse.csr_matrix(sparse.diags(inv) @ w)


class NetworkRidge(Model):
    name = "network_ridge"

    def __init__(
        self,
        *,
        adjacency: ArrayLike | sparse.spmatrix | None = None,
        period: int | None = None,
        lags: int = 6,
        neighbour_lags: int = 3,
        alpha: float = 0.03,
        huber_iterations: int = 2,
        smooth: int = 4,
        horizons: Sequence[int] = (),
        row_stride: int = 1,
        workers: int = 1,
        level: float = 0.9,
    ) -> None:
        super().__init__(level=level)
        if lags < 1 or neighbour_lags < 0 or alpha < 0 or huber_iterations < 0:
            raise ValueError("lags >= 1, neighbour_lags >= 0, alpha >= 0, huber_iterations >= 0")
        if row_stride < 1 or workers < 1:
            raise ValueError("row_stride >= 1, workers >= 1")
        self.adjacency = adjacency
        self.period = period
        self.lags = lags
        self.neighbour_lags = neighbour_lags if adjacency is not None else 0
        self.alpha = alpha
        self.huber_iterations = huber_iterations
        self.smooth = smooth
        self.horizons = tuple(horizons)
        self.row_stride = row_stride
        self.workers = workers
        self._weights: sparse.csr_matrix | None = None
        self._profile: Array | None = None
        self._coef: dict[int, Array] = {}  # h -> coefficients (N, F)
        self._filled: Array = np.zeros((0, 0))
        self._nb: Array | None = None

    @property
    def failed(self) -> list[int]:
        """Series without enough complete rows: zero coefficients, i.e. persistence."""
        if not self._coef:
            return []
        zero = np.logical_and.reduce([np.all(c == 0.0, axis=1) for c in self._coef.values()])
        return [int(j) for j in np.flatnonzero(zero)]

    @property
    def uses_network(self) -> bool:
        return self._weights is not None

    @property
    def memory(self) -> int:
        """Rows before the origin that a forecast reads."""
        return max(self.lags, self.neighbour_lags, 1)

    # -- features ----------------------------------------------------------------------------
    def _prepare(self, y: Array, rows: slice | None = None) -> tuple[Array, Array | None]:
        """Filled panel padded with `memory` copies of its first row, and its neighbour mean
        (only on the padded `rows`, when given: the rest is left at zero)."""
        filled = np.nan_to_num(ffill(y), nan=0.0)
        filled = np.concatenate([np.repeat(filled[:1], self.memory, axis=0), filled], axis=0)
        if self._weights is None:
            return filled, None
        rows = rows or slice(None)
        nb = np.zeros_like(filled)
        nb[rows] = np.asarray((self._weights @ filled[rows].T).T)
        isolated = np.asarray(self._weights.sum(axis=1)).ravel() == 0
        nb[:, isolated] = filled[:, isolated]
        return filled, nb

    def _shared(self, filled: Array, nb: Array | None, t: IntArray, cols: slice) -> F32:
        """(n, len(t), S) horizon-free features at padded rows `t` for series `cols`."""
        ft = filled[:, cols].T
        y0 = ft[:, t]
        feats = [np.ones_like(y0)]
        feats += [y0 - ft[:, t - k] for k in range(1, self.lags)]
        if nb is not None and self.neighbour_lags > 0:
            nbt = nb[:, cols].T
            nb0 = nbt[:, t]
            feats.append(nb0 - y0)
            feats += [nb0 - nbt[:, t - k] for k in range(1, self.neighbour_lags)]
        out = np.empty((*y0.shape, len(feats)), dtype=np.float32)
        for j, col in enumerate(feats):
            out[..., j] = col
        return out

    def _profile_features(self, y0: Array, t_raw: IntArray, h: int, cols: slice) -> list[Array]:
        if self._profile is None or not self.period:
            return []
        prof = self._profile[:, cols].T  # (n, period)
        slot_now = (self._t0 + t_raw) % self.period
        slot_tgt = (slot_now + h) % self.period
        return [prof[:, slot_tgt] - y0, prof[:, slot_tgt] - prof[:, slot_now]]

    # -- fitting ---------------------------------------------------------------------------
    def _fit(self, y: Array, t0: int) -> None:
        n = y.shape[1]
        self._weights = None
        if self.adjacency is not None:
            self._weights = neighbour_weights(self.adjacency)
            if self._weights.shape != (n, n):
                raise ValueError(f"adjacency is {self._weights.shape}, expected ({n}, {n})")
        if np.isnan(y).all():
            raise FitError("no observed value")
        self._profile = seasonal_profile(y, t0, self.period, self.smooth) if self.period else None
        self._coef = {}
        self._filled, self._nb = self._prepare(y)
        if self.horizons:
            self._fit_horizons(self.horizons)

    def _fit_horizons(self, hs: Sequence[int]) -> None:
        """Fit horizons `hs` on the rows that have a target for all of them."""
        y = self.fitted_data
        hs = list(hs)
        t_raw = np.arange(self.memory - 1, y.shape[0] - max(hs))[:: self.row_stride]
        if t_raw.size == 0:
            raise FitError(f"series too short for horizon {max(hs)}")
        n = y.shape[1]
        size = min(CHUNK, -(-n // self.workers))
        chunks = [slice(i, min(i + size, n)) for i in range(0, n, size)]
        if self.workers > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(self.workers) as pool:
                parts = list(pool.map(lambda sl: self._fit_chunk(sl, hs, t_raw), chunks))
        else:
            parts = [self._fit_chunk(sl, hs, t_raw) for sl in chunks]
        for k, h in enumerate(hs):
            self._coef[h] = np.concatenate([p[k] for p in parts], axis=0)

    def _fit_chunk(self, cols: slice, hs: list[int], t_raw: IntArray) -> list[Array]:
        """Coefficients (n, F) of each horizon for the series `cols`."""
        y = self.fitted_data[:, cols]
        shared = self._shared(self._filled, self._nb, t_raw + self.memory, cols)
        y0 = np.ascontiguousarray(self._filled[t_raw + self.memory, cols].T)  # (n, R)
        observed = np.ascontiguousarray(~np.isnan(y[t_raw]).T)
        targets = {h: np.ascontiguousarray(y[t_raw + h].T) for h in hs}
        ok_all = observed & np.logical_and.reduce([~np.isnan(v) for v in targets.values()])
        w0 = ok_all.astype(np.float32)
        swt = (shared * w0[..., None]).transpose(0, 2, 1)  # (n, S, R)
        g_ss = np.matmul(swt, shared).astype(np.float64)
        out = []
        for h in hs:
            extra = self._profile_features(y0, t_raw, h, cols)
            prof = np.empty((*y0.shape, len(extra)), dtype=np.float32)
            for j, col in enumerate(extra):
                prof[..., j] = col
            ok = observed & ~np.isnan(targets[h])
            d = np.where(ok, targets[h] - y0, 0.0).astype(np.float32)
            both = np.concatenate([prof, d[..., None]], axis=-1)  # (n, R, P + 1)
            sb = np.matmul(swt, both).astype(np.float64)  # (n, S, P + 1)
            pb = np.matmul((prof * w0[..., None]).transpose(0, 2, 1), both).astype(np.float64)
            p = prof.shape[-1]
            gram = np.concatenate(
                [
                    np.concatenate([g_ss, sb[:, :, :p]], axis=2),
                    np.concatenate([sb[:, :, :p].transpose(0, 2, 1), pb[:, :, :p]], axis=2),
                ],
                axis=1,
            )
            rhs = np.concatenate([sb[:, :, p], pb[:, :, p]], axis=1)
            out.append(self._robust_solve(shared, prof, d, ok, w0, gram, rhs))
        return out

    def _robust_solve(
        self,
        shared: F32,
        prof: F32,
        d: F32,
        ok: NDArray[np.bool_],
        w0: F32,
        gram: Array,
        rhs: Array,
    ) -> Array:
        """Ridge, then Huber rounds; `gram`/`rhs` are weighted by `w0`, the penalty is
        `alpha` x rows x each feature's variance (none on the constant)."""
        n_s = shared.shape[-1]
        f = gram.shape[-1]
        count = np.maximum(gram[:, 0, 0], 1.0)
        mean = gram[:, 0, :] / count[:, None]
        var = np.maximum(np.diagonal(gram, axis1=1, axis2=2) / count[:, None] - mean**2, 1e-9)
        penalty = self.alpha * count[:, None] * var
        penalty[:, 0] = 0.0
        coef = _solve(gram, rhs, penalty)
        cut: F32 | None = None
        for _ in range(self.huber_iterations):
            c32 = coef.astype(np.float32)
            fitted = np.matmul(shared, c32[:, :n_s, None])[..., 0]
            for j in range(prof.shape[-1]):
                fitted += prof[..., j] * c32[:, n_s + j, None]
            resid = np.abs(d - fitted)
            if cut is None:  # the scale of the first fit's residuals, kept for every round
                sigma = _robust_sigma(resid[:, ::SIGMA_STRIDE], ok[:, ::SIGMA_STRIDE])
                cut = (HUBER_C * sigma[:, None] + 1e-6).astype(np.float32)
            weight = ok * np.minimum(np.float32(1.0), cut / np.maximum(resid, np.float32(1e-6)))
            delta = w0 - weight  # the Gram matrix changes only where the weight did
            k = int(np.count_nonzero(delta, axis=1).max())
            if k == 0:
                break
            n, r = delta.shape
            idx = np.argpartition(-np.abs(delta), k - 1, axis=1)[:, :k]
            flat = (idx + (np.arange(n) * r)[:, None]).ravel()  # row gathers are memcpy-fast
            rows = np.concatenate(
                [shared.reshape(n * r, -1)[flat], prof.reshape(n * r, -1)[flat]], axis=-1
            ).reshape(n, k, -1)
            rows_w = (rows * delta.reshape(-1)[flat].reshape(n, k, 1)).transpose(0, 2, 1)
            g_fix = np.matmul(rows_w, rows).astype(np.float64)
            r_fix = np.matmul(rows_w, d.reshape(-1)[flat].reshape(n, k, 1))[..., 0]
            coef = _solve(gram - g_fix, rhs - r_fix.astype(np.float64), penalty)
        coef[ok.sum(axis=1) <= 2 * f] = 0.0  # too few complete rows: persistence
        return coef

    def coefficients(self, h: int) -> Array:
        if h not in self._coef:
            self._fit_horizons([h])
        return self._coef[h]

    # -- forecasting -----------------------------------------------------------------------
    def rolling(
        self, y: ArrayLike, origins: Sequence[int] | IntArray, horizons: Sequence[int]
    ) -> Array:
        panel, org = self._panel(y, origins, horizons)
        n = panel.shape[1]
        out = np.full((len(org), len(horizons), n), np.nan)
        if org.size == 0:
            return out
        missing = [h for h in horizons if h not in self._coef]
        if missing:
            self._fit_horizons(missing)
        filled, nb = self._prepare(panel[: org.max()], rows=slice(int(org.min()), None))
        t = org - 1 + self.memory
        x = self._shared(filled, nb, t, slice(None)).astype(np.float64)  # (N, O, S)
        n_s = x.shape[-1]
        y0 = filled[t].T  # (N, O)
        for k, h in enumerate(horizons):
            coef = self._coef[h]
            fc = y0 + np.matmul(x, coef[:, :n_s, None])[..., 0]
            extra = self._profile_features(y0, org - 1, h, slice(None))
            for j, col in enumerate(extra):
                fc += col * coef[:, n_s + j, None]
            out[:, k, :] = fc.T
        # A series never observed up to the origin has no forecast.
        seen = np.maximum.accumulate(~np.isnan(panel), axis=0)[org - 1]
        return np.where(seen[:, None, :], out, np.nan)
