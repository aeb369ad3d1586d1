"""WebSocket `/api/v1/stream`: live condition changes for everyone, incident and detector
details for operators.

Authentication as for HTTP: the dashboard's session cookie (sent by the browser with the
handshake, accepted from our own origin or a CORS origin), or `Authorization: Bearer` /
`X-API-Key` for scripts; without credentials the stream is public. Invalid presented credentials
close the socket with code 1008. After `accept` the server sends a `hello` (role, current
compact status of every link; for operators also active incidents and health counts), then the
events of each snapshot refresh (api/events.py), and a `ping` every `live.stream_ping_s` when
nothing else was sent. Messages from the client are read and ignored. A client whose queue
overflows (`live.stream_queue`) is closed with 1013 and should reconnect.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import anyio
import msgspec
from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect

from api.auth import Principal, Role, stream_guard
from api.events import StreamHub, Subscriber, compact_link, health_record, incident_record
from api.snapshot import SnapshotService
from api.timefmt import rfc3339

router = APIRouter(tags=["stream"])
log = logging.getLogger(__name__)


def hello(principal: Principal, snapshots: SnapshotService) -> bytes:
    snap = snapshots.current
    view = snap.live if snap is not None else None
    body: dict[str, Any] = {
        "type": "hello",
        "role": principal.role.label,
        "name": principal.name,
        "generated_at": snap.generated_at if snap is not None else None,
        "conditions_at": rfc3339(view.computed_ns) if view and view.computed_ns else None,
        "links": [compact_link(c) for c in view.links.values()] if view else [],
    }
    if principal.role >= Role.OPERATOR:
        body["incidents"] = [incident_record(i) for i in view.incidents_active] if view else []
        unhealthy = [h for h in view.health.values() if h.status != "ok"] if view else []
        body["detector_health"] = [health_record(h) for h in unhealthy]
    return msgspec.json.encode(body)


async def _send_loop(ws: WebSocket, sub: Subscriber, ping_s: float) -> None:
    while True:
        with anyio.move_on_after(ping_s) as scope:
            message = await sub.queue.get()
        if scope.cancelled_caught:
            await ws.send_text('{"type":"ping"}')
            continue
        if message is None or sub.dropped:
            await ws.close(code=1013, reason="too slow: reconnect")
            return
        await ws.send_text(message.decode())


async def _receive_loop(ws: WebSocket) -> None:
    try:
        while True:
            await ws.receive_text()
    except (WebSocketDisconnect, RuntimeError, KeyError):
        return


@router.websocket("/api/v1/stream")
async def stream(
    websocket: WebSocket, principal: Annotated[Principal, Depends(stream_guard)]
) -> None:
    error = getattr(websocket.state, "auth_error", None)
    if error:
        await websocket.close(code=1008, reason=error[:120])
        return
    hub: StreamHub = websocket.app.state.hub
    snapshots: SnapshotService = websocket.app.state.snapshots
    sub = hub.subscribe(principal.role)
    if sub is None:
        await websocket.close(code=1013, reason="too many stream clients")
        return
    try:
        await websocket.accept()
        await websocket.send_text(hello(principal, snapshots).decode())
        ping_s = websocket.app.state.settings.live.stream_ping_s
        async with anyio.create_task_group() as tg:

            async def receive_then_stop() -> None:
                await _receive_loop(websocket)
                tg.cancel_scope.cancel()

            tg.start_soon(receive_then_stop)
            await _send_loop(websocket, sub, ping_s)
            tg.cancel_scope.cancel()
    except (WebSocketDisconnect, RuntimeError) as exc:
        log.debug("stream client left: %s", exc)
    finally:
        hub.unsubscribe(sub)
