"""One interval of per-lane traffic values (`Obs`), from a sample or combined from several."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, overload

from citytraffic.conditions.samples import DetectorSample, reading_flags

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Obs:
    time_ns: int  # end of the interval
    interval_s: int
    flow_vph_per_lane: float | None
    occupancy: float | None
    speed_kmh: float | None
    flags: tuple[str, ...] = ()


def obs_from_sample(s: DetectorSample) -> Obs:
    """One detector interval as an Obs: flow from the count, flags from reading_flags."""
    flow = (
        s.count * 3600.0 / s.interval_s
        if s.count is not None and s.count >= 0 and s.interval_s > 0
        else None
    )
    return Obs(
        time_ns=s.time_ns,
        interval_s=s.interval_s,
        flow_vph_per_lane=flow,
        occupancy=s.occupancy,
        speed_kmh=s.speed_kmh,
        flags=reading_flags(s),
    )


def combine_obs(obs: Sequence[Obs]) -> Obs:
    """Per-lane average of several observations of the same interval. Unflagged ones are
    preferred; if all are flagged the result carries their flags. Speed: flow-weighted harmonic
    mean when every speed has a positive flow and speed, else the arithmetic mean."""
    if len(obs) == 1:
        return obs[0]
    good = [o for o in obs if not o.flags]
    use = good or list(obs)
    flags = () if good else tuple(sorted({f for o in use for f in o.flags}))
    flows = [o.flow_vph_per_lane for o in use if o.flow_vph_per_lane is not None]
    occs = [o.occupancy for o in use if o.occupancy is not None]
    with_speed = [o for o in use if o.speed_kmh is not None]
    speed: float | None = None
    if with_speed:
        pairs = [(o.flow_vph_per_lane, o.speed_kmh) for o in with_speed]
        if all(q is not None and q > 0 and v is not None and v > 0 for q, v in pairs):
            q_sum = sum(q or 0.0 for q, _ in pairs)
            speed = q_sum / sum((q or 0.0) / (v or 1.0) for q, v in pairs)
        else:
            speed = sum(v or 0.0 for _, v in pairs) / len(pairs)
    return Obs(
        time_ns=max(o.time_ns for o in use),
        interval_s=max(o.interval_s for o in use),
        flow_vph_per_lane=sum(flows) / len(flows) if flows else None,
        occupancy=sum(occs) / len(occs) if occs else None,
        speed_kmh=speed,
        flags=flags,
    )


T = TypeVar("T")


class LazySeries(Sequence[Obs], Generic[T]):
    """A time-ordered series of Obs made on first access (and cached) from `items`: the engines
    read only the newest part of an hour of history, so most items are never converted."""

    def __init__(self, items: Sequence[T], make: Callable[[T], Obs]) -> None:
        self._items = items
        self._make = make
        self._cache: dict[int, Obs] = {}

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> Obs: ...

    @overload
    def __getitem__(self, index: slice) -> list[Obs]: ...

    def __getitem__(self, index: int | slice) -> Obs | list[Obs]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._items)))]
        if index < 0:
            index += len(self._items)
        if not 0 <= index < len(self._items):
            raise IndexError(index)
        obs = self._cache.get(index)
        if obs is None:
            obs = self._cache[index] = self._make(self._items[index])
        return obs
