"""Token-bucket rate limiting per client IP for the public data routes.

Each client IP owns a bucket of `burst` tokens refilled at `rate_per_s`; a request takes one
token, and a request finding the bucket empty is answered 429 with `Retry-After` (whole seconds
until a token is back). Clients in `trusted_clients` (configuration, e.g. a benchmark host or a
CDN) get `trusted_rate_per_s` / `trusted_burst`, or no limit when `trusted_rate_per_s` is unset.
Authenticated operators are not limited (the guard skips the limiter for them).

At most `max_tracked_clients` buckets are kept: when the table is full, buckets that have
refilled completely (idle clients) are dropped first, then the oldest half.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Decision", "RateLimiter"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: int = 0
    limit_per_s: float | None = None  # None: not limited


@dataclass(frozen=True, slots=True)
class _Limit:
    rate_per_s: float
    burst: int


class RateLimiter:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        trusted: Sequence[IPNetwork] = (),
        trusted_rate_per_s: float | None = None,
        trusted_burst: int = 1000,
        max_clients: int = 100_000,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = _Limit(rate_per_s, burst)
        self.trusted = tuple(trusted)
        self.trusted_limit = (
            None if trusted_rate_per_s is None else _Limit(trusted_rate_per_s, trusted_burst)
        )
        self.max_clients = max_clients
        self.clock_s = clock_s
        self._buckets: dict[str, tuple[float, float]] = {}  # ip -> (tokens, last refill time)
        self._limits: dict[str, _Limit | None] = {}  # ip -> its limit (cache)
        self._lock = threading.Lock()
        self.rejected = 0

    def _limit_for(self, client: str) -> _Limit | None:
        if client in self._limits:
            return self._limits[client]
        limit: _Limit | None = self.default
        if self.trusted:
            try:
                addr = ipaddress.ip_address(client)
            except ValueError:
                addr = None
            if addr is not None and any(addr in net for net in self.trusted):
                limit = self.trusted_limit
        if len(self._limits) >= self.max_clients:
            self._limits.clear()
        self._limits[client] = limit
        return limit

    def check(self, client: str) -> Decision:
        """Take a token for `client` (an IP string) or say how long to wait."""
        limit = self._limit_for(client)
        if limit is None:
            return Decision(True)
        now = self.clock_s()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(limit.burst), now))
            tokens = min(float(limit.burst), tokens + (now - last) * limit.rate_per_s)
            if tokens >= 1.0:
                if client not in self._buckets and len(self._buckets) >= self.max_clients:
                    self._evict(now)
                self._buckets[client] = (tokens - 1.0, now)
                return Decision(True, limit_per_s=limit.rate_per_s)
            self._buckets[client] = (tokens, now)
            self.rejected += 1
        wait_s = (1.0 - tokens) / limit.rate_per_s
        return Decision(False, max(1, math.ceil(wait_s)), limit.rate_per_s)

    def _evict(self, now: float) -> None:
        def full(item: tuple[str, tuple[float, float]]) -> bool:
            limit = self._limit_for(item[0]) or self.default
            tokens, last = item[1]
            return tokens + (now - last) * limit.rate_per_s >= limit.burst

        idle = [ip for ip, state in self._buckets.items() if full((ip, state))]
        for ip in idle:
            del self._buckets[ip]
        if len(self._buckets) >= self.max_clients:
            for ip in list(self._buckets)[: len(self._buckets) // 2]:
                del self._buckets[ip]
