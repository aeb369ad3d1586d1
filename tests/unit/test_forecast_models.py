"""Each model recovers a known synthetic signal; statsmodels-backed filters agree with
statsmodels; fallbacks take over when a fit fails."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from forecasting.models import (
    Arima,
    AutoRegressive,
    HistoricalAverage,
    HoltWinters,
    NetworkRidge,
    Persistence,
    SeasonalNaive,
)
from forecasting.models.base import ffill, masked_quantiles, seasonal_profile
from forecasting.models.statistical import holt_winters_rolling

PERIOD = 24


def periodic(t: int, n: int = 1, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    slot = np.arange(t) % PERIOD
    base = 50 + 10 * np.sin(2 * np.pi * slot / PERIOD) + 5 * (slot == 8)
    return base[:, None] + np.arange(n)[None, :] + noise * rng.standard_normal((t, n))


def ar2(t: int, phi: tuple[float, float], const: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(t)
    mean = const / (1 - sum(phi))
    y[:2] = mean
    for i in range(2, t):
        y[i] = const + phi[0] * y[i - 1] + phi[1] * y[i - 2] + rng.standard_normal()
    return y


def test_ffill_carries_forward_and_fills_leading_gap() -> None:
    y = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [5.0, 3.0]])
    np.testing.assert_array_equal(ffill(y), [[2, 1], [2, 1], [2, 1], [5, 3]])


def test_masked_quantiles_match_numpy() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((50, 4))
    x[::5, 1] = np.nan
    x[:, 2] = np.nan
    got = masked_quantiles(x, [0.1, 0.5, 0.9])
    cols = [0, 1, 3]
    np.testing.assert_allclose(got[:, cols], np.nanquantile(x[:, cols], [0.1, 0.5, 0.9], axis=0))
    assert np.isnan(got[:, 2]).all()


def test_persistence_repeats_last_observation() -> None:
    y = np.array([1.0, 2.0, 3.0, np.nan])
    fc = Persistence().fit(y).predict(3)
    np.testing.assert_array_equal(fc.mean, [3.0, 3.0, 3.0])
    assert fc.mean.shape == fc.lower.shape == fc.upper.shape == (3,)
    # Bounds are the in-sample error quantiles: a rising series has only positive errors.
    assert np.all(fc.lower[:2] > fc.mean[:2])


def test_seasonal_naive_is_exact_on_a_periodic_signal() -> None:
    y = periodic(10 * PERIOD, n=2)
    model = SeasonalNaive(PERIOD).fit(y[: 8 * PERIOD])
    np.testing.assert_allclose(model.predict(30).mean, y[8 * PERIOD : 8 * PERIOD + 30])
    origins = np.arange(5 * PERIOD, 8 * PERIOD)
    fc = model.rolling(y, origins, [1, 5, 24, 30])
    for k, h in enumerate([1, 5, 24, 30]):
        np.testing.assert_allclose(fc[:, k], y[origins + h - 1])


def test_historical_average_recovers_the_daily_profile() -> None:
    y = periodic(30 * PERIOD, noise=1.0)
    model = HistoricalAverage(PERIOD).fit(y)
    truth = periodic(PERIOD)[:, 0]
    assert np.abs(model.profile[:, 0] - truth).max() < 1.0
    # t0 shifts the slots: a model fitted from slot 5 forecasts slot (5 + T + h - 1) % 24.
    shifted = HistoricalAverage(PERIOD).fit(y[5:], t0=5)
    np.testing.assert_allclose(shifted.predict(PERIOD).mean, model.predict(PERIOD).mean, atol=1.0)


def test_seasonal_profile_ignores_missing_values() -> None:
    y = periodic(4 * PERIOD)
    y[::5] = np.nan
    prof = seasonal_profile(y, 0, PERIOD)
    np.testing.assert_allclose(prof[:, 0], periodic(PERIOD)[:, 0])


def test_autoregressive_recovers_ar2_coefficients() -> None:
    y = ar2(20_000, (0.6, 0.25), 2.0)
    model = AutoRegressive(2).fit(y)
    assert model._coef is not None
    np.testing.assert_allclose(model._coef[0, 1:], [0.6, 0.25], atol=0.03)
    assert abs(model._coef[0, 0] - 2.0) < 0.2


def test_autoregressive_matches_statsmodels_autoreg() -> None:
    from statsmodels.tsa.ar_model import AutoReg

    y = ar2(600, (0.5, 0.2), 1.0, seed=4)
    ours = AutoRegressive(12).fit(y)
    theirs = AutoReg(y, lags=12, trend="c").fit()
    assert ours._coef is not None
    np.testing.assert_allclose(ours._coef[0], theirs.params, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ours.predict(12).mean, theirs.forecast(12), rtol=1e-6)


def test_holt_winters_filter_reproduces_statsmodels_and_forecasts_the_signal() -> None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = periodic(12 * PERIOD, noise=0.3)[:, 0]
    train = y[: 10 * PERIOD]
    model = HoltWinters(period=PERIOD).fit(train)
    assert model.failed == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ExponentialSmoothing(
            train, seasonal="add", seasonal_periods=PERIOD, initialization_method="heuristic"
        ).fit()
    one_step = holt_winters_rolling(model._params[0], train, np.arange(1, len(train)), [1])
    np.testing.assert_allclose(one_step[:, 0], ref.fittedvalues[1:], atol=1e-8)
    fc = model.predict(2 * PERIOD)
    # statsmodels forecasts h = m, 2m with the seasonal state from before the last update (it
    # overwrites it); this filter uses the updated one, as in Hyndman & Athanasopoulos.
    not_m = np.arange(1, 2 * PERIOD + 1) % PERIOD != 0
    np.testing.assert_allclose(fc.mean[not_m], ref.forecast(2 * PERIOD)[not_m], atol=1e-8)
    assert np.abs(fc.mean - periodic(12 * PERIOD)[10 * PERIOD :, 0]).mean() < 0.5


def test_arima_rolling_equals_statsmodels_apply_and_recovers_ar1() -> None:
    rng = np.random.default_rng(5)
    t = 1500
    e = np.zeros(t)
    for i in range(1, t):
        e[i] = 0.7 * e[i - 1] + rng.standard_normal()
    y = periodic(t)[:, 0] + e
    model = Arima((1, 0, 0), period=PERIOD, fit_method="statespace").fit(y[:1200])
    res = model._params[0]["result"]
    assert abs(res.params[res.model.param_names.index("ar.L1")] - 0.7) < 0.08
    origin = 1300
    exog = model._exog(model._params[0]["profile"], 0, origin + 6)
    assert exog is not None
    ref = res.apply(y[:origin], exog=exog[:origin]).forecast(6, exog=exog[origin:])
    got = model.rolling(y[: origin + 10], [origin], [1, 3, 6])[0, :, 0]
    np.testing.assert_allclose(got, np.asarray(ref)[[0, 2, 5]], rtol=1e-8)


def test_per_series_models_fall_back_when_a_fit_fails() -> None:
    y = periodic(6 * PERIOD, n=3, noise=0.5)
    y[:, 1] = np.nan  # nothing to fit
    y[:-5, 2] = np.nan  # five values: too few for ARIMA
    for model in (Arima((1, 0, 0), period=PERIOD), HoltWinters(period=PERIOD)):
        model.fit(y)
        assert 1 in model.failed
        fc = model.predict(4)
        assert np.isfinite(fc.mean[:, 0]).all() and np.isfinite(fc.mean[:, 2]).all()


def network_signal(t: int, seed: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Detector 1 sees detector 0's speed two steps later (a queue travelling downstream)."""
    rng = np.random.default_rng(seed)
    a = np.zeros(t)
    for i in range(1, t):
        a[i] = 0.95 * a[i - 1] + rng.standard_normal() * 2.0
    a += 60.0
    b = np.r_[a[:2], a[:-2]] + 0.05 * rng.standard_normal(t)
    adjacency = np.array([[1.0, 1.0], [1.0, 1.0]])
    return np.column_stack([a, b]), adjacency


def test_network_ridge_uses_the_upstream_neighbour() -> None:
    y, adjacency = network_signal(3000)
    train, origins = y[:2400], np.arange(2400, 2990)
    with_net = NetworkRidge(adjacency=adjacency, horizons=[1, 2]).fit(train)
    alone = NetworkRidge(horizons=[1, 2]).fit(train)
    assert with_net.uses_network and not alone.uses_network
    for model, bound in ((with_net, 0.3), (alone, None)):
        fc = model.rolling(y, origins, [1, 2])
        err = np.abs(fc[:, :, 1] - y[origins[:, None] + np.array([0, 1]), 1]).mean(axis=0)
        if bound is not None:
            assert (err < bound).all(), err  # the future of 1 is in 0's present
            net_err = err
        else:
            assert (err > 3 * net_err).all(), (err, net_err)


def test_network_ridge_recovers_a_periodic_signal_and_falls_back_to_persistence() -> None:
    y = periodic(10 * PERIOD, n=3, noise=0.2)
    y[:-3, 2] = np.nan  # too few complete rows: zero coefficients, persistence
    model = NetworkRidge(period=PERIOD, horizons=[1, 6]).fit(y[: 8 * PERIOD])
    origins = np.arange(8 * PERIOD, 10 * PERIOD - 6)
    fc = model.rolling(y, origins, [1, 6])
    truth = periodic(10 * PERIOD, n=3)
    for k, h in enumerate([1, 6]):
        err = np.abs(fc[:, k, :2] - truth[origins + h - 1, :2]).mean()
        assert err < 0.6, (h, err)
    assert np.all(model.coefficients(6)[2] == 0.0)
    assert model.failed == [2]
    last = y[8 * PERIOD - 1, 2]
    np.testing.assert_allclose(model.predict(3).mean[:, 2], last)


def test_network_ridge_threads_and_chunks_give_the_same_fit() -> None:
    y = periodic(6 * PERIOD, n=5, noise=1.0, seed=9)
    adjacency = np.ones((5, 5))
    one = NetworkRidge(adjacency=adjacency, period=PERIOD, horizons=[1, 3]).fit(y)
    two = NetworkRidge(adjacency=adjacency, period=PERIOD, horizons=[1, 3], workers=2).fit(y)
    np.testing.assert_allclose(one.coefficients(3), two.coefficients(3), rtol=1e-6)
    lazy = NetworkRidge(adjacency=adjacency, period=PERIOD).fit(y)  # horizons fitted on use
    np.testing.assert_allclose(lazy.coefficients(3), one.coefficients(3), rtol=1e-6)


@pytest.mark.parametrize(
    "model",
    [
        Persistence(),
        SeasonalNaive(PERIOD),
        HistoricalAverage(PERIOD),
        AutoRegressive(3),
        NetworkRidge(period=PERIOD),
    ],
    ids=lambda m: m.name,
)
def test_predict_shapes_and_ordered_bounds(model: object) -> None:
    y = periodic(8 * PERIOD, n=4, noise=1.0)
    fc = model.fit(y).predict(5)  # type: ignore[attr-defined]
    assert fc.mean.shape == fc.lower.shape == fc.upper.shape == (5, 4)
    assert np.all(fc.lower <= fc.upper)
    assert fc.level == 0.9


def test_interval_bounds_cover_about_the_nominal_share() -> None:
    y = ar2(4000, (0.6, 0.2), 1.0, seed=8)
    model = AutoRegressive(2, level=0.8).fit(y[:3000])
    lower, upper = model.error_quantiles([1])
    origins = np.arange(3000, 3999)
    fc = model.rolling(y, origins, [1])[:, 0, 0]
    inside = (y[origins] >= fc + lower[0, 0]) & (y[origins] <= fc + upper[0, 0])
    assert 0.72 < inside.mean() < 0.88
