"""The METR-LA week (read where it lies, never copied): stations, speeds, and the time mapping.

Files (see the data directory's README.md): `los_speed.csv` (a header of station ids, then one
row per 5 minutes of speeds in mph, 2012-03-01 00:00 to 2012-03-07 23:55 America/Los_Angeles)
and `graph_sensor_locations.csv` (`index,sensor_id,latitude,longitude`).

Time: a row's label is taken as the `ts` of its reading, i.e. the END of the 5-minute interval it
averages (the contract's convention; the file does not say which end its labels mark).
- original mode: label (local time) converted to UTC (PST = UTC-8 that week);
- shift mode: the same grid moved so that the last replayed row lands on the last full 5-minute
  mark at or before the moment the replay ends (`simulators.clock.default_start`).

Values: speed mph -> km/h. A cell that is empty, not a number, not finite, or <= 0 (METR-LA's
"no data" is 0) is missing: no reading is published for it.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from simulators.clock import default_start

MPH_TO_KMH = 1.609344
INTERVAL_S = 300
LOCAL_TZ = "America/Los_Angeles"
FIRST_LABEL = datetime(2012, 3, 1, 0, 0)  # local wall time of row 0
SPEED_FILE = "los_speed.csv"
LOCATION_FILE = "graph_sensor_locations.csv"


class MetrLaDataError(ValueError):
    """The data directory is missing a file or a file is not in the expected form."""


@dataclass(frozen=True, slots=True)
class Station:
    id: str  # METR-LA sensor id (digits)
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class MetrLaData:
    stations: tuple[Station, ...]  # in column order
    speeds_mph: tuple[tuple[float | None, ...], ...]  # rows; None = missing
    total_rows: int  # rows in the file (speeds_mph may hold fewer, see max_rows)
    missing_cells: int

    @property
    def rows(self) -> int:
        return len(self.speeds_mph)


def mph_to_kmh(speed_mph: float) -> float:
    return speed_mph * MPH_TO_KMH


def parse_speed(cell: str) -> float | None:
    """A speed cell in mph; None when missing (empty, not a number, not finite, <= 0)."""
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def load_metrla(data_dir: Path, max_rows: int | None = None) -> MetrLaData:
    """Read the station list and (the first `max_rows`) speed rows. Raises MetrLaDataError."""
    speed_path, loc_path = data_dir / SPEED_FILE, data_dir / LOCATION_FILE
    try:
        with loc_path.open(newline="", encoding="utf-8") as f:
            locations = _locations(csv.DictReader(f), loc_path)
        with speed_path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows: list[tuple[float | None, ...]] = []
            total = missing = 0
            for line_no, row in enumerate(reader, start=2):
                if not row:
                    continue
                total += 1
                if max_rows is not None and len(rows) >= max_rows:
                    continue
                if len(row) != len(header):
                    raise MetrLaDataError(
                        f"{speed_path}:{line_no}: {len(row)} columns, header has {len(header)}"
                    )
                values = tuple(parse_speed(c) for c in row)
                missing += sum(v is None for v in values)
                rows.append(values)
    except OSError as exc:
        raise MetrLaDataError(f"METR-LA data: {exc}") from None
    if not header or not rows:
        raise MetrLaDataError(f"{speed_path}: no header or no rows")
    unknown = [h for h in header if h not in locations]
    if unknown:
        raise MetrLaDataError(f"{loc_path}: no location for station(s) {unknown[:5]}")
    if len(set(header)) != len(header):
        raise MetrLaDataError(f"{speed_path}: a station id appears twice in the header")
    stations = tuple(Station(h, *locations[h]) for h in header)
    return MetrLaData(stations, tuple(rows), total, missing)


def _locations(reader: csv.DictReader[str], path: Path) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for row in reader:
        try:
            sid = row["sensor_id"].strip()
            lat, lon = float(row["latitude"]), float(row["longitude"])
        except (KeyError, ValueError, AttributeError):
            raise MetrLaDataError(f"{path}: bad row {row}") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise MetrLaDataError(f"{path}: station {sid} at an impossible lat/lon")
        out[sid] = (lon, lat)
    return out


def original_times(rows: int, tz: str = LOCAL_TZ) -> list[datetime]:
    """The UTC `ts` of each row at its original time (local label converted per row)."""
    zone = ZoneInfo(tz)
    labels = (FIRST_LABEL + timedelta(seconds=k * INTERVAL_S) for k in range(rows))
    return [label.replace(tzinfo=zone).astimezone(UTC) for label in labels]


def shifted_times(rows: int, now: datetime, speedup: float) -> list[datetime]:
    """The UTC `ts` of each row when the replay ends at now (clock policy).

    Run start = default_start(now, speedup, rows * 5 min); row k ends interval k + 1. At the
    moment the last row may be released (the paced clock reaches it), its `ts` is the last full
    5-minute mark at or before the wall clock, never after."""
    t_start = default_start(now, speedup, rows * INTERVAL_S, INTERVAL_S)
    return [t_start + timedelta(seconds=(k + 1) * INTERVAL_S) for k in range(rows)]
