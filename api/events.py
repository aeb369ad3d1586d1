"""Change events for the live stream, and the hub that fans them out to WebSocket clients.

Events are JSON objects with a `type`:

- `conditions` (public): `links`, the links whose compact status (LOS, congested, traffic
  status, speed, flow, occupancy, trend, stale, updated) changed since the last refresh;
- `incident` (operator): `change` started | updated | ended, and the incident record;
- `detector_health` (operator): a detector whose health status or flags changed;
- `alarm` (operator): an operator acknowledged, shelved or closed an incident or detector alarm.

`diff_links` / `*_event` are pure; `StreamHub` lives on the event loop: the snapshot task calls
`publish` after each refresh, every client has a bounded queue, and a client too slow to keep its
queue below `stream_queue` messages is disconnected (it reconnects and gets a fresh hello).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from api.auth.keys import Role
from api.feeds.common import rounded, traffic_status
from api.timefmt import rfc3339
from citytraffic.conditions import DetectorHealth, Incident, LinkConditions

__all__ = [
    "StreamEvent",
    "StreamHub",
    "Subscriber",
    "compact_link",
    "diff_links",
    "health_record",
    "incident_record",
]

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class StreamEvent:
    min_role: Role
    payload: bytes


def compact_link(c: LinkConditions) -> dict[str, Any]:
    return {
        "link": c.link,
        "los": c.los,
        "congested": c.congested,
        "traffic_status": traffic_status(c),
        "speed_kmh": rounded(c.speed_kmh, 1),
        "flow_vph": rounded(c.flow_vph, 0),
        "occupancy": rounded(c.occupancy, 3),
        "trend": c.trend,
        "stale": c.stale,
        "updated": rfc3339(c.time_ns) if c.time_ns is not None else None,
    }


def diff_links(
    previous: Mapping[str, LinkConditions], current: Mapping[str, LinkConditions]
) -> list[dict[str, Any]]:
    """Compact records of the links that are new or whose compact record changed."""
    changed = []
    for link_id, c in current.items():
        now = compact_link(c)
        old = previous.get(link_id)
        if old is None or compact_link(old) != now:
            changed.append(now)
    return changed


def _t(ns: int | None) -> str | None:
    return None if ns is None else rfc3339(ns)


def incident_record(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "method": i.method,
        "state": i.state,
        "start": rfc3339(i.start_ns),
        "confirmed": _t(i.confirmed_ns),
        "end": _t(i.end_ns),
        "end_reason": i.end_reason,
        "updated": rfc3339(i.updated_ns),
        "link": i.link,
        "links": list(i.links),
        "upstream_station": i.upstream_station,
        "downstream_station": i.downstream_station,
        "detectors": list(i.detectors),
        "lon": i.lon,
        "lat": i.lat,
        "confidence": i.confidence,
        "intervals": i.intervals,
        "occdf_pct": i.occdf_pct,
        "occrdf": i.occrdf,
        "docctd": i.docctd,
        "description": i.description,
    }


def health_record(h: DetectorHealth) -> dict[str, Any]:
    return {
        "detector": h.detector,
        "site": h.site,
        "link": h.link,
        "status": h.status,
        "flags": list(h.flags),
        "reasons": list(h.reasons),
        "assessed_at": rfc3339(h.time_ns),
        "last_seen": _t(h.last_seen_ns),
        "samples": h.samples,
        "silent_s": round(h.silent_s, 1),
    }


def conditions_event(links: list[dict[str, Any]], generated_ns: int) -> StreamEvent:
    body = {"type": "conditions", "generated_at": rfc3339(generated_ns), "links": links}
    return StreamEvent(Role.PUBLIC, _encode(body))


def incident_event(i: Incident) -> StreamEvent:
    if i.state == "ended":
        change = "ended"
    elif i.intervals <= 1 or i.start_ns == i.updated_ns:
        change = "started"
    else:
        change = "updated"
    body = {"type": "incident", "change": change, "incident": incident_record(i)}
    return StreamEvent(Role.OPERATOR, _encode(body))


def health_event(h: DetectorHealth) -> StreamEvent:
    return StreamEvent(
        Role.OPERATOR, _encode({"type": "detector_health", "detector": health_record(h)})
    )


def alarm_event(kind: str, target: str, record: dict[str, Any]) -> StreamEvent:
    body = {"type": "alarm", "kind": kind, "target": target, "operator": record}
    return StreamEvent(Role.OPERATOR, _encode(body))


@dataclass(eq=False)
class Subscriber:
    role: Role
    queue: asyncio.Queue[bytes | None] = field(default_factory=lambda: asyncio.Queue(256))
    dropped: bool = False


class StreamHub:
    def __init__(self, max_clients: int = 1000, queue_size: int = 256) -> None:
        self.max_clients = max_clients
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.published = 0
        self.disconnected_slow = 0

    def subscribe(self, role: Role) -> Subscriber | None:
        """A new subscriber, or None when `max_clients` are connected already."""
        if len(self.subscribers) >= self.max_clients:
            return None
        sub = Subscriber(role, asyncio.Queue(self.queue_size))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, events: list[StreamEvent]) -> None:
        """Queue events for every subscriber allowed to see them (event loop thread only)."""
        for event in events:
            self.published += 1
            for sub in list(self.subscribers):
                if sub.role < event.min_role or sub.dropped:
                    continue
                try:
                    sub.queue.put_nowait(event.payload)
                except asyncio.QueueFull:
                    sub.dropped = True
                    self.disconnected_slow += 1
                    self.subscribers.discard(sub)
                    _wake(sub)


def _wake(sub: Subscriber) -> None:
    """Make the client's sender notice it was dropped (its queue is full: make room)."""
    try:
        sub.queue.get_nowait()
        sub.queue.put_nowait(None)
    except (asyncio.QueueEmpty, asyncio.QueueFull):
        pass
