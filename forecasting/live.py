"""The live forecaster: every interval, forecast every detector and link from the store and
write the forecasts back (issue 5 part 4).

Each run:
1. reads the last `history_s` of `detector` points of every detector of the network (one
   `Store.aggregate` per detector, buckets of `step_s`): mean `speed_kmh`, and flow in veh/h
   as mean count x 3600 / mean interval_s;
2. fits the default model (NetworkRidge over all detectors at once, neighbours from the network)
   to each variable and forecasts every horizon; a fit that fails falls back to persistence;
3. writes one `forecast` point per detector and horizon, and one per link and horizon.

Identity of a forecast point (InfluxDB: measurement + tags + time):
- time = the target time (the start of the forecast bucket);
- tags = `site`, `detector` (or `link`) and `horizon_min`: issue time = target - horizon, so
  target + horizon identify the forecast, and a run repeated for the same data overwrites
  instead of duplicating. The model is a field, not a tag (no new series when it changes).
- fields: `speed_kmh`, `speed_kmh_lower`, `speed_kmh_upper`, `flow_vph`, `flow_vph_lower`,
  `flow_vph_upper` (bounds at `level`), `model`, `issue_time_ns` (start of the last bucket
  of data used), `level`.
Live accuracy is then the join of `forecast` (time = target) with `detector` readings
aggregated over the same buckets.

The model refits every run: fit + forecast of the default model is cheap (benchmarks/
forecasting.py); a heavier model would refit on a schedule and only forecast every run.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from citytraffic.domain.network import Network
from citytraffic.storage.points import FieldValue, Point, make_tags
from citytraffic.storage.port import Store, StoreError
from forecasting.data import steps_per_day
from forecasting.models import FitError, Forecast, NetworkRidge, Persistence
from forecasting.sources import (
    SECOND_NS,
    DetectorRef,
    detectors_of,
    load_history,
    network_adjacency,
)

log = logging.getLogger(__name__)

FORECAST = "forecast"

# Live settings, for throughput: fit on every second row (neighbouring 5-minute rows are strongly
# correlated), one Huber round instead of two, both cores. On METR-LA validation this costs about
# +0.02 mph MAE (docs/forecasting.md).
DEFAULT_ROW_STRIDE = 2
DEFAULT_HUBER_ITERATIONS = 1
DEFAULT_WORKERS = 2


def default_model(
    *,
    adjacency: ArrayLike | sparse.spmatrix | None,
    period: int | None,
    horizon_steps: int | Sequence[int],
) -> NetworkRidge:
    """The live default: NetworkRidge over all detectors, every horizon fitted at `fit`."""
    steps = (
        list(range(1, horizon_steps + 1)) if isinstance(horizon_steps, int) else list(horizon_steps)
    )
    return NetworkRidge(
        adjacency=adjacency,
        period=period,
        horizons=steps,
        row_stride=DEFAULT_ROW_STRIDE,
        huber_iterations=DEFAULT_HUBER_ITERATIONS,
        workers=DEFAULT_WORKERS,
    )


@dataclass(frozen=True, slots=True)
class RunSummary:
    issue_time_ns: int
    detectors: int
    detectors_with_data: int
    points: int
    fallbacks: int  # (detector, variable) forecasts made by the fallback model in this run
    seconds: float


def fit_forecast(
    values: np.ndarray,
    *,
    adjacency: sparse.csr_matrix | None,
    period: int | None,
    steps: list[int],
    t0: int,
) -> tuple[Forecast, list[str]]:
    """Forecast steps 1..max(steps) of every column, and the model used for each column:
    persistence where the fit fails (for a column with too few rows, or for all)."""
    model = default_model(adjacency=adjacency, period=period, horizon_steps=steps)
    n = values.shape[1]
    try:
        forecast = model.fit(values, t0=t0).predict(max(steps))
    except (FitError, ValueError, np.linalg.LinAlgError) as exc:
        log.warning("forecast: %s failed (%s); persistence instead", model.name, exc)
        fallback = Persistence()
        return fallback.fit(values, t0=t0).predict(max(steps)), [fallback.name] * n
    failed = set(model.failed)
    return forecast, [Persistence.name if j in failed else model.name for j in range(n)]


def _fields(
    forecasts: dict[str, tuple[Forecast, list[str]]],
    k: int,
    j: int | list[int],
    combine: Callable[..., float],
) -> dict[str, FieldValue]:
    fields: dict[str, FieldValue] = {}
    models = []
    for variable, (fc, names) in forecasts.items():
        mean = combine(fc.mean[k, j])
        if math.isfinite(mean):
            fields[variable] = mean
            lower, upper = combine(fc.lower[k, j]), combine(fc.upper[k, j])
            if math.isfinite(lower) and math.isfinite(upper):
                fields[f"{variable}_lower"] = min(lower, mean)
                fields[f"{variable}_upper"] = max(upper, mean)
            models += [names[i] for i in ([j] if isinstance(j, int) else j)]
    if models:
        fields["model"] = "+".join(sorted(set(models)))
    return fields


def forecast_points(
    detectors: Sequence[DetectorRef],
    forecasts: dict[str, tuple[Forecast, list[str]]],
    *,
    issue_time_ns: int,
    steps: list[int],
    step_s: int,
    level: float,
) -> list[Point]:
    """`forecast` points of every detector and link at each horizon (see the module doc)."""
    points: list[Point] = []
    links: dict[str, list[int]] = {}
    for j, d in enumerate(detectors):
        if d.link:
            links.setdefault(d.link, []).append(j)
    for h in steps:
        k = h - 1
        target_ns = issue_time_ns + h * step_s * SECOND_NS
        horizon = str(h * step_s // 60)
        extra: dict[str, FieldValue] = {"issue_time_ns": issue_time_ns, "level": level}
        for j, d in enumerate(detectors):
            fields = _fields(forecasts, k, j, float)
            if fields:
                tags = make_tags(detector=d.id, site=d.site, horizon_min=horizon)
                points.append(Point(FORECAST, tags, fields | extra, target_ns))
        for link, members in links.items():
            # A link: mean speed of its detectors, total flow (one detector per lane).
            fields = {
                **_fields({"speed_kmh": forecasts["speed_kmh"]}, k, members, _nanmean),
                **_fields({"flow_vph": forecasts["flow_vph"]}, k, members, _nansum),
            }
            if fields:
                tags = make_tags(link=link, horizon_min=horizon)
                points.append(Point(FORECAST, tags, fields | extra, target_ns))
    return points


def _nanmean(values: np.ndarray) -> float:
    ok = values[np.isfinite(values)]
    return float(ok.mean()) if ok.size else math.nan


def _nansum(values: np.ndarray) -> float:
    ok = values[np.isfinite(values)]
    return float(ok.sum()) if ok.size == values.size else math.nan


def horizon_steps(horizons_min: Sequence[int], step_s: int) -> list[int]:
    steps = []
    for minutes in horizons_min:
        if minutes <= 0 or (minutes * 60) % step_s:
            raise ValueError(f"horizon {minutes} min is not a positive multiple of {step_s} s")
        steps.append(minutes * 60 // step_s)
    return sorted(set(steps))


def run_once(
    store: Store,
    network: Network,
    *,
    horizons_min: Sequence[int],
    now_ns: int,
    step_s: int = 300,
    history_s: int = 7 * 86_400,
) -> RunSummary:
    """One forecasting run at `now_ns`: read, fit, forecast, write."""
    began = time.perf_counter()
    steps = horizon_steps(horizons_min, step_s)
    step_ns = step_s * SECOND_NS
    rows = history_s // step_s
    grid_end = now_ns // step_ns * step_ns  # the current bucket is incomplete: not used
    grid_start = grid_end - rows * step_ns
    issue_time_ns = grid_end - step_ns
    detectors = detectors_of(network, store, grid_start)
    if not detectors:
        return RunSummary(issue_time_ns, 0, 0, 0, 0, time.perf_counter() - began)
    speed, flow = load_history(store, detectors, grid_start, rows, step_s)
    observed = ~(np.isnan(speed).all(axis=0) & np.isnan(flow).all(axis=0))
    adjacency = network_adjacency(network, detectors)
    t0 = grid_start // step_ns
    period = steps_per_day(step_s)
    forecasts = {
        name: fit_forecast(values, adjacency=adjacency, period=period, steps=steps, t0=t0)
        for name, values in (("speed_kmh", speed), ("flow_vph", flow))
    }
    points = forecast_points(
        detectors,
        forecasts,
        issue_time_ns=issue_time_ns,
        steps=steps,
        step_s=step_s,
        level=forecasts["speed_kmh"][0].level,
    )
    if points:
        store.write(points)
    fallbacks = sum(
        name == Persistence.name
        for _, names in forecasts.values()
        for name, seen in zip(names, observed, strict=True)
        if seen
    )
    return RunSummary(
        issue_time_ns,
        len(detectors),
        int(observed.sum()),
        len(points),
        fallbacks,
        time.perf_counter() - began,
    )


def run_forecaster(
    store: Store,
    network: Network,
    *,
    interval_s: int,
    horizons_min: list[int],
    once: bool = False,
    step_s: int = 300,
    history_s: int = 7 * 86_400,
    stop: threading.Event | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
) -> None:
    """Forecast every `interval_s` until `stop` is set (or once). A store that fails is logged
    and retried at the next interval."""
    horizon_steps(horizons_min, step_s)  # bad horizons fail at start-up, not every interval
    stop = stop or threading.Event()
    while True:
        started = time.monotonic()
        try:
            summary = run_once(
                store,
                network,
                horizons_min=horizons_min,
                now_ns=clock_ns(),
                step_s=step_s,
                history_s=history_s,
            )
            log.info(
                "forecast: %d/%d detectors with data, %d points in %.2f s (fallbacks %d)",
                summary.detectors_with_data,
                summary.detectors,
                summary.points,
                summary.seconds,
                summary.fallbacks,
            )
        except StoreError as exc:
            log.warning("forecast: store error, retrying next interval: %s", exc)
        if once or stop.wait(max(0.0, interval_s - (time.monotonic() - started))):
            return
