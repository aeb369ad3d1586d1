"""Read the scenario's E1 loops through libsumo the way a junction gateway would report them.

Per site (junction) and interval: one `DetectorBatch` with per loop the count of vehicles that
entered the loop during the interval (rising edges, as a real loop counts: SUMO's own interval
"vehicle number" counts a vehicle standing on the loop again in every interval), the occupancy as
a fraction, and the mean speed in km/h (None when no vehicle passed). Every batch is encoded and
decoded with the MQTT payload codec, so consumers get exactly what ingest would get.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from citytraffic.messaging.payloads import DetectorBatch, DetectorValue, decode, encode

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


class LoopGateway:
    def __init__(self, detectors_by_site: dict[str, list[str]], gateway: str = "sumo-gw") -> None:
        import libsumo

        self._loops = libsumo.inductionloop
        self._by_site = {s: sorted(ds) for s, ds in sorted(detectors_by_site.items()) if ds}
        self._previous: dict[str, frozenset[str]] = {}
        self._gateway = gateway
        self._seq = 0
        self.totals: dict[str, int] = {}

    def read(self, now_s: float, interval_s: int) -> list[DetectorBatch]:
        """Call right after an interval of `interval_s` simulated seconds ended at `now_s`."""
        loops = self._loops
        ts = EPOCH + timedelta(seconds=now_s)
        batches: list[DetectorBatch] = []
        for site, detectors in self._by_site.items():
            values: list[DetectorValue] = []
            for det in detectors:
                ids = frozenset(loops.getLastIntervalVehicleIDs(det))
                new = len(ids - self._previous.get(det, frozenset()))
                self._previous[det] = ids
                occupancy = max(0.0, loops.getLastIntervalOccupancy(det)) / 100.0
                speed_kmh: float | None = None
                if new:
                    speed_ms = loops.getLastIntervalMeanSpeed(det)
                    speed_kmh = round(speed_ms * 3.6, 2) if speed_ms >= 0 else None
                    self.totals[det] = self.totals.get(det, 0) + new
                values.append(DetectorValue(det, new, round(min(1.0, occupancy), 4), speed_kmh))
            batch = DetectorBatch(self._gateway, self._seq, site, ts, interval_s, values)
            self._seq += 1
            decoded = decode(encode(batch), "detectors", site)
            assert isinstance(decoded, DetectorBatch)
            batches.append(decoded)
        return batches
