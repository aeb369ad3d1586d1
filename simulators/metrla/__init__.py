"""Replay of the real METR-LA week (207 Los Angeles freeway stations, 5-minute speeds).

- `data`: reads the CSV files where they lie, mph -> km/h, the time mapping (shift / original);
- `network`: the stations as freeway `station` sites with one detector and a short link each,
  grouped into gateways;
- `run`: `run_metrla(...)`, the MQTT publisher.
"""

from simulators.metrla.data import (
    MPH_TO_KMH,
    MetrLaData,
    MetrLaDataError,
    Station,
    load_metrla,
    mph_to_kmh,
    original_times,
    shifted_times,
)
from simulators.metrla.network import build_network, detector_id, site_id, station_geometry
from simulators.metrla.run import run_metrla

__all__ = [
    "MPH_TO_KMH",
    "MetrLaData",
    "MetrLaDataError",
    "Station",
    "build_network",
    "detector_id",
    "load_metrla",
    "mph_to_kmh",
    "original_times",
    "run_metrla",
    "shifted_times",
    "site_id",
    "station_geometry",
]
