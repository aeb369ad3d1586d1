"""Controller side of the plan topic: what a junction's field controller hears from the centre.

`PlanListener` subscribes (QoS 1) to `traffic/v1/site/<site>/plan` of its sites, keeps the newest
message per site (a plan or a revocation, as JSON objects; anything else is counted as refused
with its reason and otherwise ignored), and tracks the link to the centre: while connected the
centre counts as heard from now; after a disconnect, as last heard at the moment the link went
down. Whether a plan is run is the caller's decision (`control.plans.plan_applicable`), so a
retained plan that arrives days later is never applied blindly.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from citytraffic.messaging import topics
from citytraffic.messaging.client import MqttConnection

log = logging.getLogger(__name__)

MAX_PLAN_BYTES = 64 * 1024


class PlanListener(MqttConnection):
    def __init__(
        self,
        host: str,
        port: int,
        sites: Iterable[str],
        *,
        client_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        start: bool = True,
    ) -> None:
        self.sites = sorted(set(sites))
        self._topics = {topics.site_topic(s, "plan"): s for s in self.sites}
        super().__init__(
            host,
            port,
            client_id or f"plans-{time.time_ns() % 10**9:09d}",
            username=username,
            password=password,
            clean_session=True,
        )
        self.client.on_message = self._on_message
        self._lock = threading.Lock()
        self._latest: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, int] = {}
        self._link_lost_at: datetime | None = None
        self._subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.received = 0
        self.refused: dict[str, int] = {}
        if start:
            self.start(name="mqtt-plans")

    def wait_subscribed(self, timeout_s: float) -> bool:
        return self._subscribed.wait(timeout_s)

    def latest(self, site: str) -> tuple[dict[str, Any] | None, int]:
        """(newest message for `site`, a counter that changes whenever a new one arrives)."""
        with self._lock:
            return self._latest.get(site), self._versions.get(site, 0)

    def last_centre_contact(self, now: datetime) -> datetime | None:
        """`now` while the link is up, else when it went down (None: never connected)."""
        with self._lock:
            if self.connected:
                return now
            return self._link_lost_at

    def _connected(self, session_present: bool) -> None:
        self.client.subscribe([(t, 1) for t in self._topics])

    def _disconnected(self) -> None:
        with self._lock:
            self._link_lost_at = datetime.now(UTC)

    def _refuse(self, reason: str, topic: str) -> None:
        with self._lock:
            self.refused[reason] = self.refused.get(reason, 0) + 1
        log.warning("plan message on %s refused: %s", topic, reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.received_total += 1
        site = self._topics.get(msg.topic)
        if site is None:
            self._refuse("not a plan topic of ours", msg.topic)
            return
        raw = bytes(msg.payload)
        if not raw:  # a cleared retained message: nothing to run
            with self._lock:
                self._latest.pop(site, None)
                self._versions[site] = self._versions.get(site, 0) + 1
            return
        if len(raw) > MAX_PLAN_BYTES:
            self._refuse("oversized", msg.topic)
            return
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._refuse("not JSON", msg.topic)
            return
        if not isinstance(body, dict) or body.get("site") != site:
            self._refuse("not a plan object for this site", msg.topic)
            return
        with self._lock:
            self.received += 1
            self._latest[site] = body
            self._versions[site] = self._versions.get(site, 0) + 1
