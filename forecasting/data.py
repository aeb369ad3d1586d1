"""Reading detector data for forecasting: a wide CSV (one column per series) and an adjacency.

A wide CSV has an optional timestamp column; every other numeric column is one series. Blanks,
`NaN` and unparseable cells are missing values. With a timestamp column, rows are put on a
regular grid of `freq` (values in one step averaged, missing steps become missing rows);
without one, each row is one step, from `start` (or from 1970-01-01 00:00 UTC, so the time of
day is counted from the first row).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from citytraffic.domain.errors import CityTrafficError
from forecasting.models.base import Array

TIME_NAMES = ("time", "timestamp", "datetime", "date", "ts", "time_utc")


class ForecastDataError(CityTrafficError, ValueError):
    """The input cannot be used: malformed CSV, no numeric column, too short, bad adjacency."""


@dataclass(frozen=True)
class Panel:
    values: Array  # (T, N), NaN = missing
    names: list[str]
    step_s: int
    t0: int  # absolute step number of row 0 (epoch seconds // step_s)
    dropped: list[str] = field(default_factory=list)  # columns that were not numeric or empty
    n_numeric: int = 0  # numeric columns before dropping empty ones (the adjacency's size)
    kept: list[int] = field(default_factory=list)  # positions of `names` among those columns

    @property
    def period(self) -> int | None:
        """Steps per day, or 7 (a week) for daily data; None when the step divides neither."""
        return steps_per_day(self.step_s)


def steps_per_day(step_s: int) -> int | None:
    if step_s <= 0:
        return None
    if step_s < 86_400 and 86_400 % step_s == 0:
        return 86_400 // step_s
    if step_s == 86_400:
        return 7
    return None


def parse_freq(freq: str) -> int:
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
        seconds = pd.Timedelta(offset.nanos, unit="ns").total_seconds()
    except (ValueError, TypeError, AttributeError) as exc:
        raise ForecastDataError(f"--freq {freq!r} is not a frequency like 5min, 15min, 1h") from exc
    if seconds <= 0 or seconds != int(seconds):
        raise ForecastDataError(f"--freq {freq!r} must be a whole, positive number of seconds")
    return int(seconds)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ForecastDataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise ForecastDataError(f"{path}: empty file") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, csv.Error) as exc:
        raise ForecastDataError(f"{path}: malformed CSV: {exc}") from exc
    if frame.shape[0] == 0:
        raise ForecastDataError(f"{path}: a header but no data rows")
    return frame


def _time_column(frame: pd.DataFrame, wanted: str | None, path: Path) -> str | None:
    if wanted is not None:
        if wanted not in frame.columns:
            raise ForecastDataError(
                f"{path}: no column {wanted!r} (columns: {', '.join(map(str, frame.columns[:8]))})"
            )
        return wanted
    for col in frame.columns:
        if str(col).strip().lower() in TIME_NAMES:
            return str(col)
    first = frame.columns[0]
    if frame[first].dtype == object:
        parsed = pd.to_datetime(frame[first], errors="coerce", utc=True, format="mixed")
        if parsed.notna().mean() > 0.9:
            return str(first)
    return None


def _parse_times(column: pd.Series) -> pd.Series:
    """ISO-like strings, or epoch numbers in s, ms, us or ns (told apart by magnitude)."""
    if pd.api.types.is_numeric_dtype(column):
        size = float(column.abs().median()) if column.notna().any() else 0.0
        unit: Literal["s", "ms", "us", "ns"] = (
            "s" if size < 1e11 else "ms" if size < 1e14 else "us" if size < 1e17 else "ns"
        )
        return pd.to_datetime(column, errors="coerce", utc=True, unit=unit)
    return pd.to_datetime(column, errors="coerce", utc=True, format="mixed")


def _numeric(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Numeric columns (cells that do not parse become missing) and the names dropped."""
    keep: dict[str, pd.Series] = {}
    dropped: list[str] = []
    for col in frame.columns:
        raw = frame[col]
        values = pd.to_numeric(raw, errors="coerce")
        given = raw.notna() & (raw.astype(str).str.strip() != "")
        if values.notna().sum() == 0 or values.notna().sum() < 0.5 * given.sum():
            dropped.append(str(col))
            continue
        keep[str(col)] = values.astype(np.float64)
    return pd.DataFrame(keep, index=frame.index), dropped


def load_wide_csv(
    path: Path,
    *,
    time_column: str | None = None,
    freq: str = "5min",
    start: datetime | None = None,
    mask_zeros: bool = False,
) -> Panel:
    step_s = parse_freq(freq)
    frame = _read(path)
    tcol = _time_column(frame, time_column, path)
    t0 = 0
    if tcol is not None:
        times = _parse_times(frame[tcol])
        bad = int(times.isna().sum())
        if bad:
            raise ForecastDataError(f"{path}: {bad} value(s) of time column {tcol!r} are not times")
        data, dropped = _numeric(frame.drop(columns=[tcol]))
        if data.shape[1] == 0:
            raise ForecastDataError(f"{path}: no numeric column besides {tcol!r}")
        data.index = pd.DatetimeIndex(times)
        data = data.sort_index().resample(pd.Timedelta(seconds=step_s)).mean()
        t0 = int(data.index[0].timestamp()) // step_s
    else:
        data, dropped = _numeric(frame)
        if data.shape[1] == 0:
            raise ForecastDataError(f"{path}: no numeric column")
        if start is not None:
            aware = start if start.tzinfo is not None else start.replace(tzinfo=UTC)
            t0 = int(aware.timestamp()) // step_s
    values = data.to_numpy(dtype=np.float64)
    if mask_zeros:
        values = np.where(values == 0.0, np.nan, values)
    empty = np.isnan(values).all(axis=0)
    names = [str(c) for c in data.columns]
    if empty.all():
        raise ForecastDataError(f"{path}: every numeric column is empty")
    dropped += [n for n, e in zip(names, empty, strict=True) if e]
    names = [n for n, e in zip(names, empty, strict=True) if not e]
    return Panel(
        values=values[:, ~empty],
        names=names,
        step_s=step_s,
        t0=t0,
        dropped=dropped,
        n_numeric=len(empty),
        kept=[int(i) for i in np.flatnonzero(~empty)],
    )


def load_adjacency(path: Path, size: int, keep: list[int] | None = None) -> Array:
    """A square `size` x `size` CSV matrix without header, rows and columns in the order of
    the CSV's numeric columns; `keep` selects the series that were kept."""
    if not path.is_file():
        raise ForecastDataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, header=None, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ForecastDataError(f"{path}: malformed adjacency CSV: {exc}") from exc
    matrix = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if matrix.shape[0] != matrix.shape[1]:
        raise ForecastDataError(f"{path}: adjacency must be square, got {matrix.shape}")
    if matrix.shape[0] != size:
        raise ForecastDataError(
            f"{path}: adjacency is {matrix.shape[0]}x{matrix.shape[0]}, "
            f"but the CSV has {size} numeric columns"
        )
    if np.isnan(matrix).any():
        raise ForecastDataError(f"{path}: adjacency has non-numeric cells")
    out: Array = matrix if keep is None else matrix[np.ix_(keep, keep)]
    return out
