"""Daily demand profiles of the synthetic city (pure functions of local time).

`demand_factor(t)` is the share (0..1) of the peak-hour demand at local time `t`: weekdays have a
morning peak around 08:00, a midday plateau and a longer evening peak around 17:30; weekends one
broad early-afternoon hump and no morning peak. `inbound_bias(t)` says which way commuters go:
positive in the weekday morning (towards the centre), negative in the evening (outwards), zero at
weekends. Shapes are sums of Gaussian bumps in hours; the numbers are typical urban count-station
shapes (approx.), not a standard, and can be replaced through `DayProfile`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Bump:
    hour: float  # local hour of the maximum
    width_h: float  # standard deviation in hours
    height: float


@dataclass(frozen=True, slots=True)
class DayProfile:
    night: float
    bumps: tuple[Bump, ...]
    inbound: tuple[Bump, ...] = ()  # signed: positive = towards the centre

    def factor(self, hour: float) -> float:
        value = self.night + sum(_bump(hour, b) for b in self.bumps)
        return min(1.0, max(0.0, value))

    def bias(self, hour: float) -> float:
        return max(-1.0, min(1.0, sum(_bump(hour, b) for b in self.inbound)))


WEEKDAY = DayProfile(
    night=0.05,
    bumps=(Bump(8.0, 1.0, 0.92), Bump(12.8, 2.6, 0.45), Bump(17.4, 1.4, 0.88)),
    inbound=(Bump(7.9, 1.3, 0.25), Bump(17.4, 1.6, -0.25)),
)
WEEKEND = DayProfile(
    night=0.06,
    bumps=(Bump(13.5, 3.2, 0.62), Bump(19.5, 1.8, 0.12)),
)


def _bump(hour: float, b: Bump) -> float:
    # distance on the 24 h circle so a bump near midnight wraps around
    d = abs(hour - b.hour) % 24.0
    d = min(d, 24.0 - d)
    return b.height * math.exp(-0.5 * (d / b.width_h) ** 2)


def local_hour(t: datetime) -> float:
    """Hour of day (0..24, fractional) of an already localised datetime."""
    return t.hour + t.minute / 60.0 + t.second / 3600.0 + t.microsecond / 3.6e9


def is_weekend(t: datetime) -> bool:
    return t.weekday() >= 5


def profile_for(t: datetime) -> DayProfile:
    return WEEKEND if is_weekend(t) else WEEKDAY


def demand_factor(t_local: datetime) -> float:
    """Share of the peak-hour demand (0..1) at this local time."""
    return profile_for(t_local).factor(local_hour(t_local))


def inbound_bias(t_local: datetime) -> float:
    """-1..1: > 0 means more traffic heads towards the centre than away from it."""
    return profile_for(t_local).bias(local_hour(t_local))
