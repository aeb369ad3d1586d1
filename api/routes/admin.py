"""Admin routes: API keys (create, list, revoke) and the effective configuration.

Every key change is audit-logged (measurement `audit`, kind `api_key`). A created key is
returned once; only its SHA-256 digest is stored. Revoking a key also ends its sessions.
"""

from __future__ import annotations

import logging

import anyio
from fastapi import APIRouter, HTTPException, Request

from api.audit import decision_point
from api.auth import ApiKeyRecord, Authenticator, KeyFileError, Principal, Role
from api.deps import AdminDep, ClockDep, SettingsDep, StoreDep
from api.models import ErrorOut
from api.models_ops import ConfigOut, KeyCreatedOut, KeyCreateIn, KeyListOut, KeyOut
from citytraffic.storage.port import Store, StoreError

router = APIRouter(prefix="/admin", tags=["admin"])
log = logging.getLogger(__name__)


def key_out(r: ApiKeyRecord) -> KeyOut:
    return KeyOut(
        id=r.id,
        name=r.name,
        role=r.role,
        active=r.active,
        created_at=r.created_at,
        created_by=r.created_by,
        revoked_at=r.revoked_at,
        revoked_by=r.revoked_by,
    )


async def _audit(
    store: Store, now_ns: int, who: Principal, target: str, action: str, reason: str
) -> None:
    point = decision_point("api_key", target, action, now_ns, who, reason)
    try:
        await anyio.to_thread.run_sync(store.write, [point])
    except StoreError as exc:
        log.warning("audit of %s %s not stored: %s", action, target, exc)


@router.get("/keys", response_model=KeyListOut, summary="All API keys (without the keys)")
async def list_keys(request: Request, _: AdminDep) -> KeyListOut:
    auth: Authenticator = request.app.state.auth
    return KeyListOut(keys=[key_out(r) for r in auth.keys.records()])


@router.post(
    "/keys",
    response_model=KeyCreatedOut,
    status_code=201,
    summary="Create a key for a named account (returned once)",
    responses={500: {"model": ErrorOut, "description": "the key file cannot be written"}},
)
async def create_key(
    body: KeyCreateIn, request: Request, who: AdminDep, store: StoreDep, clock_ns: ClockDep
) -> KeyCreatedOut:
    auth: Authenticator = request.app.state.auth
    try:
        key, record = await anyio.to_thread.run_sync(
            auth.keys.create, body.name, Role.parse(body.role), who.actor
        )
    except KeyFileError as exc:
        raise HTTPException(500, str(exc)) from None
    await _audit(store, clock_ns(), who, record.id, "create", f"{body.name} ({body.role})")
    return KeyCreatedOut(**key_out(record).model_dump(), key=key)


@router.delete(
    "/keys/{key_id}",
    response_model=KeyOut,
    summary="Revoke a key (its sessions end too)",
    responses={404: {"model": ErrorOut}, 500: {"model": ErrorOut}},
)
async def revoke_key(
    key_id: str, request: Request, who: AdminDep, store: StoreDep, clock_ns: ClockDep
) -> KeyOut:
    auth: Authenticator = request.app.state.auth
    if len(key_id) > 64 or auth.keys.get(key_id) is None:
        raise HTTPException(404, f"no API key {key_id[:64]!r}")
    try:
        record = await anyio.to_thread.run_sync(auth.keys.revoke, key_id, who.actor)
    except KeyFileError as exc:
        raise HTTPException(500, str(exc)) from None
    if record is None:
        raise HTTPException(404, f"no API key {key_id!r}")
    await _audit(store, clock_ns(), who, record.id, "revoke", record.name)
    return key_out(record)


@router.get("/config", response_model=ConfigOut, summary="Effective settings (secrets masked)")
async def config(settings: SettingsDep, _: AdminDep) -> ConfigOut:
    return ConfigOut(settings=settings.model_dump(mode="json"))
