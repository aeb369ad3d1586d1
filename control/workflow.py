"""Operator decisions on signal plans: versions per junction and optimistic concurrency.

`SignalBook` remembers, per junction, the version of the plan in force (0: local plan), the
published plan message, the control mode, and the suggestions handed out with the junction
version they were computed against (`base_version`). Accepting a suggestion reserves the
junction (`begin`) only if its version still equals the suggestion's base version and no other
decision is in flight: a second, conflicting accept gets `Conflict` (HTTP 409). The caller
publishes and audits, then `finish`es (commits the new version) or `abort`s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from citytraffic.storage.points import Row

SIGNAL_KIND = "signal"
MODES = ("adaptive", "plan", "local")


class Conflict(Exception):
    """Another decision changed, or is changing, the junction (HTTP 409)."""


@dataclass(slots=True)
class JunctionState:
    version: int = 0
    plan: dict[str, Any] | None = None
    mode: str = "local"
    busy: bool = False
    decided_by: str | None = None
    decided_ns: int | None = None


@dataclass(slots=True)
class Issued:
    id: str
    site: str
    base_version: int
    created_ns: int
    valid_until_ns: int
    body: dict[str, Any]
    status: str = "pending"  # pending | accepted | rejected
    decision: dict[str, Any] = field(default_factory=dict)


class SignalBook:
    def __init__(self, max_issued: int = 5000) -> None:
        self._lock = threading.Lock()
        self._junctions: dict[str, JunctionState] = {}
        self._issued: dict[str, Issued] = {}
        self.max_issued = max_issued

    def junction(self, site: str) -> JunctionState:
        with self._lock:
            s = self._junctions.setdefault(site, JunctionState())
            return JunctionState(s.version, s.plan, s.mode, s.busy, s.decided_by, s.decided_ns)

    def issue(self, item: Issued) -> Issued:
        """Remember a suggestion; an id seen before keeps its status (a rejected one stays so)."""
        with self._lock:
            old = self._issued.get(item.id)
            if old is not None:
                old.body, old.valid_until_ns = (
                    item.body,
                    max(old.valid_until_ns, item.valid_until_ns),
                )
                return old
            if len(self._issued) >= self.max_issued:
                oldest = min(self._issued.values(), key=lambda i: i.created_ns)
                del self._issued[oldest.id]
            self._issued[item.id] = item
            return item

    def get(self, suggestion_id: str) -> Issued | None:
        with self._lock:
            return self._issued.get(suggestion_id)

    def begin(self, site: str, base_version: int, suggestion_id: str | None = None) -> int:
        """Reserve the junction for a decision; returns the new version. Raises Conflict."""
        with self._lock:
            s = self._junctions.setdefault(site, JunctionState())
            if s.busy:
                raise Conflict(f"junction {site}: another operator's decision is in progress")
            if suggestion_id is not None:
                item = self._issued.get(suggestion_id)
                if item is not None and item.status != "pending":
                    raise Conflict(
                        f"suggestion {suggestion_id} was already {item.status} by "
                        f"{item.decision.get('by')}"
                    )
            if s.version != base_version:
                raise Conflict(
                    f"junction {site} is at plan version {s.version} (decided by "
                    f"{s.decided_by}), this decision was based on version {base_version}: "
                    "reload the suggestions"
                )
            s.busy = True
            return s.version + 1

    def abort(self, site: str) -> None:
        with self._lock:
            self._junctions.setdefault(site, JunctionState()).busy = False

    def finish(
        self,
        site: str,
        version: int,
        plan: dict[str, Any] | None,
        mode: str,
        by: str,
        at_ns: int,
    ) -> None:
        with self._lock:
            s = self._junctions.setdefault(site, JunctionState())
            s.version, s.plan, s.mode, s.busy = version, plan, mode, False
            s.decided_by, s.decided_ns = by, at_ns

    def set_mode(self, site: str, mode: str, by: str, at_ns: int) -> None:
        with self._lock:
            s = self._junctions.setdefault(site, JunctionState())
            s.mode, s.decided_by, s.decided_ns = mode, by, at_ns

    def decide(self, suggestion_id: str, status: str, decision: Mapping[str, Any]) -> None:
        with self._lock:
            item = self._issued.get(suggestion_id)
            if item is not None:
                item.status, item.decision = status, dict(decision)

    def replay(self, rows: Iterable[Row]) -> int:
        """Rebuild junction versions and modes from audit rows of kind `signal` (oldest first)."""
        n = 0
        for row in sorted(rows, key=lambda r: r.time_ns):
            if row.tags.get("kind") != SIGNAL_KIND:
                continue
            site, action = row.tags.get("target", ""), row.tags.get("action", "")
            version = row.fields.get("version")
            by = str(row.fields.get("actor", "unknown"))
            with self._lock:
                s = self._junctions.setdefault(site, JunctionState())
                if action in ("accept", "revoke") and isinstance(version, int):
                    s.version = max(s.version, version)
                    s.mode = "plan" if action == "accept" else "local"
                    s.decided_by, s.decided_ns = by, row.time_ns
                elif action == "mode" and row.fields.get("mode") in MODES:
                    s.mode = str(row.fields["mode"])
                    if isinstance(version, int):  # a published mode order has a version
                        s.version = max(s.version, version)
                        s.decided_by, s.decided_ns = by, row.time_ns
            n += 1
        return n
