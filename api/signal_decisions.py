"""Operator decisions on signals: the SignalBook of the app, the audit record of every
decision, and publishing the junction's control order (a plan, adaptive control, local control,
a revocation) retained on its plan topic. Every decision goes through `publish_order`: reserve
the junction (a concurrent decision gets 409), build the versioned order, validate a plan,
audit, publish, and only then commit the new version (docs/signal-workflow.md)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import anyio
import paho.mqtt.client as mqtt
from fastapi import HTTPException, Request
from paho.mqtt.enums import CallbackAPIVersion

from api.alarms import AUDIT_MEASUREMENT
from api.audit import write_audit
from api.auth import Principal
from api.timefmt import NS
from citytraffic.domain.network import Junction
from citytraffic.messaging.topics import site_topic
from citytraffic.settings import Settings
from citytraffic.storage.port import Store, StoreError
from control.plans import iso, validate_plan
from control.workflow import SIGNAL_KIND, Conflict, SignalBook

_book_lock = threading.Lock()


def book_of(request: Request, store: Store, now_ns: int, lookback_days: int) -> SignalBook:
    """The app's SignalBook, created on first use and rebuilt from the audit log."""
    with _book_lock:
        book: SignalBook | None = getattr(request.app.state, "signal_book", None)
        if book is None:
            book = SignalBook()
            try:
                rows = store.range(
                    AUDIT_MEASUREMENT, now_ns - lookback_days * 86400 * NS, now_ns + 1
                )
                book.replay(r for r in rows if r.tags.get("kind") == SIGNAL_KIND)
            except StoreError:
                pass  # versions start at 0; a later accept still gets a fresh version
            request.app.state.signal_book = book
        return book


def publish_retained(settings: Settings, topic: str, payload: bytes) -> None:
    """Publish once with QoS 1, retained, and wait for the PUBACK; raises OSError on failure."""
    m = settings.mqtt
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{settings.signals.mqtt_client_id}-{uuid.uuid4().hex[:8]}",
        protocol=mqtt.MQTTv311,
    )
    if m.username is not None:
        client.username_pw_set(m.username, m.password.get_secret_value() if m.password else None)
    if m.tls or m.ca_file:
        client.tls_set(ca_certs=str(m.ca_file) if m.ca_file else None)
    timeout_s = settings.signals.publish_timeout_s
    try:
        client.connect(m.host, m.port, m.keepalive_s)
        client.loop_start()
        info = client.publish(topic, payload, qos=1, retain=True)
        info.wait_for_publish(timeout_s)
        if not info.is_published():
            raise OSError(f"broker {m.host}:{m.port} did not acknowledge the plan")
    except (OSError, RuntimeError, ValueError) as exc:
        raise OSError(str(exc)) from exc
    finally:
        client.disconnect()
        client.loop_stop()


async def audit(
    store: Store,
    site: str,
    action: str,
    now_ns: int,
    who: Principal,
    reason: str,
    extra: dict[str, float | int | str | bool],
) -> None:
    """The audit record of a signal decision (kind `signal`, target = the junction)."""
    await write_audit(store, SIGNAL_KIND, site, action, now_ns, who, reason, extra, "decision")


def plan_message_times(now: datetime, validity_s: float) -> dict[str, str]:
    return {"valid_from": iso(now), "valid_until": iso(now + timedelta(seconds=validity_s))}


async def publish_order(
    store: Store,
    settings: Settings,
    book: SignalBook,
    who: Principal,
    *,
    site: str,
    action: str,
    reason: str,
    order: Callable[[int], dict[str, Any]],
    mode: str,
    now_ns: int,
    clock_ns: Callable[[], int],
    junction: Junction | None = None,
    base_version: int | None = None,
    suggestion_id: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Decide, audit and publish one control order for `site`; returns the published message.

    `order(version)` builds the message; a plan is validated against `junction` first (422).
    Raises HTTPException 409 (another decision), 422, 503 (audit log or broker down). The book
    keeps a published plan as the plan in force; other orders keep the one there was."""
    base = book.junction(site).version if base_version is None else base_version
    try:
        version = book.begin(site, base, suggestion_id)
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    fields: dict[str, float | int | str | bool] = {"version": version, **(extra or {})}
    try:
        msg = order(version)
        if msg.get("type") == "plan":
            problems = validate_plan(junction, msg) if junction is not None else ["no junction"]
            if problems:
                raise HTTPException(422, "plan refused: " + "; ".join(problems))
            fields["plan"] = json.dumps(msg)
        await audit(store, site, action, now_ns, who, reason, fields)
        try:
            await anyio.to_thread.run_sync(
                publish_retained, settings, site_topic(site, "plan"), json.dumps(msg).encode()
            )
        except OSError as exc:
            failed = {k: v for k, v in fields.items() if k != "plan"}
            await audit(store, site, "publish_failed", clock_ns(), who, str(exc)[:200], failed)
            raise HTTPException(503, f"{action}: not published (MQTT): {exc}"[:300]) from None
    except BaseException:
        book.abort(site)
        raise
    in_force = msg if msg.get("type") == "plan" else book.junction(site).plan
    if msg.get("type") == "revoked":
        in_force = None
    book.finish(site, version, in_force, mode, who.actor, now_ns)
    return msg
