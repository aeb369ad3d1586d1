"""Backtest of forecasting models on a wide CSV, with the protocol of the literature.

- Time-ordered split: the first 70 % of the rows train, the next 10 % validate, the last 20 %
  test (rounded to whole rows).
- Each configuration of each model is fitted on the training part and scored on the
  validation part (rolling origin, MAE averaged over the horizons); the best configuration of
  each model is refitted on training + validation, then scored on the test part.
- Rolling origin: from every origin o (the model knows rows < o, no refit) the forecast of row
  o + h - 1 is the h-step-ahead value; the error at horizon h is over targets inside the test
  part only. Missing actuals (and zeros with `mask_zeros`) are out of every metric.
- `best` is the model with the lowest validation MAE: the test part never chooses anything.
  `auto` picks, per series, the model with the lowest validation MAE of that series.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from forecasting import metrics
from forecasting.data import ForecastDataError, load_adjacency, load_wide_csv
from forecasting.models import MODEL_NAMES, Context, Model, PerSeriesModel, candidates
from forecasting.models.base import Array

log = logging.getLogger(__name__)

TRAIN_SHARE, VAL_SHARE = 0.7, 0.1
AUTO = "auto"


def split(t: int) -> tuple[int, int]:
    """(validation start, test start) for a series of t rows."""
    n_train = round(TRAIN_SHARE * t)
    n_val = round(VAL_SHARE * t)
    return n_train, n_train + n_val


def check_length(t: int, horizons: list[int]) -> None:
    val_start, test_start = split(t)
    hmax = max(horizons)
    need = hmax + 2
    if val_start < need or test_start - val_start < 1 or t - test_start < 1:
        raise ForecastDataError(
            f"series too short for horizon {hmax}: {t} rows split into "
            f"{val_start}/{test_start - val_start}/{t - test_start} (train/validation/test); "
            f"the training part needs at least {need} rows and the other parts one each"
        )


def rolling_targets(model: Model, y: Array, lo: int, hi: int, horizons: list[int]) -> Array:
    """Forecasts (H, hi - lo, N) for target rows lo..hi-1 at each horizon, from data y[:hi]."""
    hmax = max(horizons)
    first = max(1, lo - hmax + 1)
    origins = np.arange(first, hi)
    fc = model.rolling(y[:hi], origins, horizons)  # (O, H, N)
    out = np.full((len(horizons), hi - lo, y.shape[1]), np.nan)
    for k, h in enumerate(horizons):
        target = origins + h - 1
        ok = (target >= lo) & (target < hi)
        out[k, target[ok] - lo] = fc[ok, k]
    return out


def _scores(actual: Array, fc: Array) -> dict[str, list[float]]:
    return {
        "mae": [metrics.mae(actual, f) for f in fc],
        "rmse": [metrics.rmse(actual, f) for f in fc],
        "mape": [metrics.mape(actual, f) for f in fc],
    }


def _fit(model: Model, y: Array, t0: int, bar: tqdm[Any]) -> float:
    if isinstance(model, PerSeriesModel):

        def tick(k: int) -> None:
            bar.update(k)

        model.progress = tick
    began = time.perf_counter()
    model.fit(y, t0=t0)
    took = time.perf_counter() - began
    if isinstance(model, PerSeriesModel):
        model.progress = None
    else:
        bar.update(y.shape[1])
    return took


def run_backtest(
    csv: Path,
    *,
    time_column: str | None = None,
    freq: str = "5min",
    start: datetime | None = None,
    horizons: list[int] | None = None,
    adjacency: Path | None = None,
    models: list[str] | None = None,
    mask_zeros: bool = False,
    json_out: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    hs = sorted(set(horizons or [3, 6, 12]))
    if not hs or hs[0] < 1:
        raise ForecastDataError("horizons must be positive whole numbers of steps")
    names = list(models or MODEL_NAMES)
    unknown = [m for m in names if m not in MODEL_NAMES]
    if unknown:
        raise ForecastDataError(f"unknown model(s) {unknown}; known: {', '.join(MODEL_NAMES)}")
    panel = load_wide_csv(
        csv, time_column=time_column, freq=freq, start=start, mask_zeros=mask_zeros
    )
    y = panel.values
    t, n = y.shape
    check_length(t, hs)
    adj = load_adjacency(adjacency, panel.n_numeric, panel.kept) if adjacency else None
    val_start, test_start = split(t)
    ctx_val = Context(period=panel.period, n_fit=val_start, adjacency=adj, horizons=tuple(hs))
    ctx_test = Context(period=panel.period, n_fit=test_start, adjacency=adj, horizons=tuple(hs))
    configs = {m: candidates(m, ctx_val) for m in names}
    total = n * sum(len(c) + 1 for c in configs.values())
    actual_val = y[val_start:test_start]
    actual_test = y[test_start:]
    results: dict[str, dict[str, Any]] = {}
    test_fc: dict[str, Array] = {}
    val_series: dict[str, Array] = {}
    with tqdm(total=total, disable=not progress, unit="fit", desc="backtest", leave=False) as bar:
        for name in names:
            bar.set_postfix_str(name)
            best: tuple[float, int, Array, Array] | None = None
            for idx, (_, model) in enumerate(configs[name]):
                _fit(model, y[:val_start], panel.t0, bar)
                fc = rolling_targets(model, y, val_start, test_start, hs)
                score = float(np.nanmean([metrics.mae(actual_val, f) for f in fc]))
                per_series = np.nanmean(
                    np.stack([metrics.series_mae(actual_val, f) for f in fc]), axis=0
                )
                if best is None or score < best[0]:
                    best = (score, idx, per_series, fc)
            assert best is not None
            _, idx, per_series, val_fc = best
            # Refit the chosen configuration on train + validation (a fresh instance).
            label, model = candidates(name, ctx_test)[idx]
            fit_s = _fit(model, y[:test_start], panel.t0, bar)
            began = time.perf_counter()
            fc = rolling_targets(model, y, test_start, t, hs)
            predict_s = time.perf_counter() - began
            lower, upper = model.error_quantiles(hs)
            entry: dict[str, Any] = _scores(actual_test, fc)
            entry.update(
                coverage=[
                    metrics.coverage(actual_test, fc[k] + lower[k], fc[k] + upper[k])
                    for k in range(len(hs))
                ],
                validation_mae=[metrics.mae(actual_val, f) for f in val_fc],
                config=label,
                fit_seconds=fit_s,
                predict_seconds=predict_s,
                fallback_series=len(model.failed) if isinstance(model, PerSeriesModel) else 0,
            )
            results[name] = entry
            test_fc[name] = fc
            val_series[name] = per_series
    best_name = min(names, key=lambda m: _mean(results[m]["validation_mae"]))
    if len(names) > 1:
        results[AUTO], selection = _auto(names, val_series, test_fc, actual_test)
    else:
        selection = {}
    chosen = results[best_name]
    result: dict[str, Any] = {
        "series": n,
        "test_points": t - test_start,
        "horizons": hs,
        "models": results,
        "best": best_name,
        "fit_seconds": chosen["fit_seconds"],
        "predict_seconds": chosen["predict_seconds"],
        "series_per_second": n / max(chosen["fit_seconds"] + chosen["predict_seconds"], 1e-9),
        "split": {"rows": t, "validation_start": val_start, "test_start": test_start},
        "auto_selection": selection,
        "dropped_columns": panel.dropped,
        "missing_share": float(np.isnan(y).mean()),
    }
    result = _finite(result)
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def _auto(
    names: list[str], val_series: dict[str, Array], test_fc: dict[str, Array], actual: Array
) -> tuple[dict[str, Any], dict[str, int]]:
    """Per series, the model with the lowest validation MAE (NaN counts as worst)."""
    table = np.stack([np.where(np.isnan(val_series[m]), np.inf, val_series[m]) for m in names])
    pick = table.argmin(axis=0)  # (N,)
    stacked = np.stack([test_fc[m] for m in names])  # (M, H, T, N)
    fc = np.take_along_axis(stacked, pick[None, None, None, :], axis=0)[0]
    entry: dict[str, Any] = _scores(actual, fc)
    entry["config"] = "per-series choice by validation MAE"
    counts = Counter(names[i] for i in pick.tolist())
    return entry, dict(counts.most_common())


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.inf


def _finite(obj: Any) -> Any:
    """NaN and infinities become null, so the JSON is standard."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def format_table(result: dict[str, Any]) -> str:
    """A plain-text table: one row per model, MAE / RMSE / MAPE at each horizon."""
    hs = result["horizons"]
    head = ["model"] + [f"{m}@{h}" for m in ("MAE", "RMSE", "MAPE%") for h in hs]
    rows = [head]
    for name, entry in result["models"].items():
        mark = " *" if name == result["best"] else ""
        cells = [name + mark]
        for key in ("mae", "rmse", "mape"):
            cells += ["-" if v is None else f"{v:.3f}" for v in entry[key]]
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = [
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(
        f"{result['series']} series, {result['test_points']} test rows, horizons in steps "
        f"{hs}; * = best on validation ({result['best']}), "
        f"{result['series_per_second']:.0f} series/s (fit + test forecasts)"
    )
    return "\n".join(lines)
