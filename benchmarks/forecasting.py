"""Forecasting throughput: fit + 12-step forecast (with interval bounds) per second.

Measures the model the live forecaster uses by default (`forecasting.live.default_model`:
NetworkRidge over all series at once, network from an adjacency matrix) and statsmodels
`AutoReg(12)` (one fit + forecast per series, as a per-detector forecaster would run) on the
same series in the same run (fit + point forecast only, so the comparison favours AutoReg: the
live model's time includes its interval bounds), and prints ONE JSON object with both rates and
their ratio. CPU seconds are reported beside wall seconds: on a shared machine they are the
steadier figure.

Series: synthetic 5-minute speeds (daily profile, congestion dips, AR(1) noise, a few gaps) on
a ring-with-chords network, or the columns of a wide CSV (`--csv`, with `--adjacency`).

    .venv/bin/python benchmarks/forecasting.py [--series 1000] [--length 2016] [--repeats 3]
        [--autoreg-series 200] [--csv FILE --adjacency FILE]

The machine is shared: `load_average` is printed with the result so that rates can be judged.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

# One BLAS thread: OpenBLAS threads on tiny matrices slow AutoReg's per-series fits several
# times over on a loaded machine (the live model runs its own worker threads).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

# This file is named like the package it measures: drop its own folder from the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from forecasting.data import load_adjacency, load_wide_csv  # noqa: E402
from forecasting.live import default_model  # noqa: E402

HORIZON = 12
PERIOD = 288


def synthetic(series: int, length: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    slot = np.arange(length) % PERIOD
    base = 100 - 25 * np.exp(-((slot - 96) ** 2) / 300.0) - 35 * np.exp(-((slot - 210) ** 2) / 400)
    scale = rng.uniform(0.5, 1.2, series)
    noise = np.zeros((length, series))
    eps = rng.normal(0.0, 3.0, (length, series))
    for t in range(1, length):
        noise[t] = 0.8 * noise[t - 1] + eps[t]
    y = base[:, None] * scale[None, :] + noise
    y[rng.random(y.shape) < 0.01] = np.nan
    adjacency = np.zeros((series, series))
    idx = np.arange(series)
    adjacency[idx, (idx + 1) % series] = 1.0
    adjacency[(idx + 1) % series, idx] = 1.0
    adjacency[idx, (idx * 7 + 3) % series] = 0.5
    return y, adjacency


def time_default(y: np.ndarray, adjacency: np.ndarray, repeats: int) -> list[tuple[float, float]]:
    took = []
    for _ in range(repeats):
        began, cpu = time.perf_counter(), time.process_time()
        model = default_model(adjacency=adjacency, period=PERIOD, horizon_steps=HORIZON)
        forecast = model.fit(y).predict(HORIZON)
        took.append((time.perf_counter() - began, time.process_time() - cpu))
        assert forecast.mean.shape == (HORIZON, y.shape[1])
    return took


def time_autoreg(y: np.ndarray, repeats: int) -> list[tuple[float, float]]:
    from statsmodels.tsa.ar_model import AutoReg

    took = []
    for _ in range(repeats):
        began, cpu = time.perf_counter(), time.process_time()
        for j in range(y.shape[1]):
            col = y[:, j]
            col = np.interp(
                np.arange(len(col)), np.flatnonzero(~np.isnan(col)), col[~np.isnan(col)]
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                AutoReg(col, lags=12, trend="c").fit().forecast(HORIZON)
        took.append((time.perf_counter() - began, time.process_time() - cpu))
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--length", type=int, default=2016, help="steps per series")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--autoreg-series", type=int, default=200)
    parser.add_argument("--csv", type=Path)
    parser.add_argument("--adjacency", type=Path)
    args = parser.parse_args(argv)
    source = "synthetic"
    if args.csv is not None:
        panel = load_wide_csv(args.csv)
        y = panel.values[-args.length :]
        if args.adjacency is not None:
            adjacency = load_adjacency(args.adjacency, panel.n_numeric, panel.kept)
        else:
            adjacency = np.zeros((y.shape[1], y.shape[1]))
        source = str(args.csv)
    else:
        y, adjacency = synthetic(args.series, args.length)
    fast = time_default(y, adjacency, args.repeats)
    ar_y = y[:, : args.autoreg_series]
    slow = time_autoreg(ar_y, args.repeats)
    rate = y.shape[1] / statistics.median(w for w, _ in fast)
    ar_rate = ar_y.shape[1] / statistics.median(w for w, _ in slow)
    cpu_rate = y.shape[1] / statistics.median(c for _, c in fast)
    ar_cpu_rate = ar_y.shape[1] / statistics.median(c for _, c in slow)
    result: dict[str, Any] = {
        "benchmark": "forecasting",
        "source": source,
        "model": "network_ridge (live default)",
        "series": int(y.shape[1]),
        "length": int(y.shape[0]),
        "horizon_steps": HORIZON,
        "repeats": args.repeats,
        "seconds": [round(w, 3) for w, _ in fast],
        "cpu_seconds": [round(c, 3) for _, c in fast],
        "series_per_second": round(rate, 1),
        "series_per_cpu_second": round(cpu_rate, 1),
        "autoreg_series": int(ar_y.shape[1]),
        "autoreg_seconds": [round(w, 3) for w, _ in slow],
        "autoreg_series_per_second": round(ar_rate, 1),
        "autoreg_series_per_cpu_second": round(ar_cpu_rate, 1),
        "ratio": round(rate / ar_rate, 2),
        "cpu_count": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
    }
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
