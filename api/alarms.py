"""Operator actions on alarms (incidents, detector health alarms) and the audit log.

An alarm is `(kind, target)`: kind `incident` (target: incident id) or `detector` (target:
detector id). Actions:

- `acknowledge`: an operator has seen it (the reason is optional);
- `shelve`: hide it for `shelve_for_s` seconds (1 min .. 7 days; a reason is required); when the
  time is up it is `new` again;
- `close`: dealt with (a reason is required); closed is final, further actions answer 409.

Every action, and every admin change to API keys, is one point of measurement `audit` (tags
`kind`, `target`, `action`; fields `actor`, `role`, `via`, `reason`, and `shelved_until_ns` for a
shelve) at the time of the action: who, when, what, why. At start the API replays the audit
points of the last `live.audit_lookback_days` into the `AlarmBook`, so alarm states survive
restarts.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from citytraffic.storage.points import FieldValue, Point, Row, make_tags

__all__ = [
    "ACTIONS",
    "AUDIT_MEASUREMENT",
    "AlarmBook",
    "AlarmState",
    "Conflict",
    "audit_point",
]

AUDIT_MEASUREMENT = "audit"
ACTIONS = ("acknowledge", "shelve", "close")
KINDS = ("incident", "detector")
NS = 1_000_000_000


class Conflict(Exception):
    """The action is not possible in the alarm's current state (HTTP 409)."""


@dataclass(frozen=True, slots=True)
class AlarmState:
    state: str = "new"  # new | acknowledged | shelved | closed
    by: str | None = None
    at_ns: int | None = None
    reason: str | None = None
    shelved_until_ns: int | None = None
    actions: int = 0

    def effective(self, now_ns: int) -> AlarmState:
        """A shelve that has run out is `new` again."""
        if self.state == "shelved" and (self.shelved_until_ns or 0) <= now_ns:
            return AlarmState("new", self.by, self.at_ns, self.reason, None, self.actions)
        return self


def audit_point(
    kind: str,
    target: str,
    action: str,
    time_ns: int,
    *,
    actor: str,
    role: str,
    via: str,
    reason: str = "",
    extra: dict[str, FieldValue] | None = None,
) -> Point:
    fields: dict[str, FieldValue] = {"actor": actor, "role": role, "via": via, "reason": reason}
    fields.update(extra or {})
    return Point(
        AUDIT_MEASUREMENT, make_tags(kind=kind, target=target, action=action), fields, time_ns
    )


class AlarmBook:
    def __init__(self) -> None:
        self._states: dict[tuple[str, str], AlarmState] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, target: str, now_ns: int) -> AlarmState:
        with self._lock:
            state = self._states.get((kind, target), AlarmState())
        return state.effective(now_ns)

    def states(self, kind: str, now_ns: int) -> dict[str, AlarmState]:
        with self._lock:
            items = [(t, s) for (k, t), s in self._states.items() if k == kind]
        return {t: s.effective(now_ns) for t, s in items}

    def plan(
        self,
        kind: str,
        target: str,
        action: str,
        now_ns: int,
        actor: str,
        reason: str,
        shelve_for_s: int | None = None,
    ) -> AlarmState:
        """The state after `action`, or Conflict; nothing changes until `commit`."""
        if kind not in KINDS:
            raise ValueError(f"unknown alarm kind {kind!r}")
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r} ({', '.join(ACTIONS)})")
        current = self.get(kind, target, now_ns)
        if current.state == "closed":
            raise Conflict(f"{kind} {target!r} was closed by {current.by}; it stays closed")
        if action == "acknowledge":
            return AlarmState("acknowledged", actor, now_ns, reason, None, current.actions + 1)
        if action == "shelve":
            until = now_ns + (shelve_for_s or 3600) * NS
            return AlarmState("shelved", actor, now_ns, reason, until, current.actions + 1)
        return AlarmState("closed", actor, now_ns, reason, None, current.actions + 1)

    def commit(self, kind: str, target: str, state: AlarmState) -> None:
        with self._lock:
            self._states[kind, target] = state

    def replay(self, rows: Iterable[Row]) -> int:
        """Rebuild the states from stored audit points (oldest first); returns how many."""
        n = 0
        for row in sorted(rows, key=lambda r: r.time_ns):
            kind, target, action = (row.tags.get(k, "") for k in ("kind", "target", "action"))
            if kind not in KINDS or action not in ACTIONS or not target:
                continue
            actor = row.fields.get("actor")
            reason = row.fields.get("reason")
            until = row.fields.get("shelved_until_ns")
            try:
                state = self.plan(
                    kind,
                    target,
                    action,
                    row.time_ns,
                    actor if isinstance(actor, str) else "unknown",
                    reason if isinstance(reason, str) else "",
                )
            except Conflict:
                continue
            if action == "shelve" and isinstance(until, int | float):
                state = AlarmState(
                    state.state, state.by, state.at_ns, state.reason, int(until), state.actions
                )
            self.commit(kind, target, state)
            n += 1
        return n
