"""POST /auth/login, POST /auth/logout, GET /auth/whoami: the dashboard's session.

The dashboard logs in once with an API key and then carries a signed session cookie (HttpOnly,
SameSite=Strict, Secure when `auth.cookie_secure`), which authenticates its HTTP requests and its
WebSocket. Scripts skip this and send the key itself (`Authorization: Bearer` or `X-API-Key`).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from api.auth import Authenticator, Principal
from api.auth.guard import REALM
from api.deps import PublicDep, PublicLimitedDep, SettingsDep
from api.models import ErrorOut
from api.models_ops import LoginIn, SessionOut
from api.timefmt import NS, rfc3339

router = APIRouter(prefix="/auth", tags=["auth"])


def session_out(principal: Principal) -> SessionOut:
    expires = principal.session_expires_s
    return SessionOut(
        role=principal.role.label,
        name=principal.name,
        via=principal.via,
        expires_at=rfc3339(expires * NS) if expires is not None else None,
    )


@router.post(
    "/login",
    response_model=SessionOut,
    summary="Exchange an API key for a session cookie",
    responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}},
)
async def login(
    body: LoginIn, request: Request, response: Response, settings: SettingsDep, _: PublicLimitedDep
) -> SessionOut:
    auth: Authenticator = request.app.state.auth
    principal = auth.principal_for_key(body.key)
    if principal is None:
        raise HTTPException(
            401,
            "invalid or revoked API key",
            headers={"WWW-Authenticate": REALM + ', error="invalid_token"'},
        )
    token, expires_s = auth.issue_session(principal)
    response.set_cookie(
        settings.auth.cookie_name,
        token,
        max_age=settings.auth.session_ttl_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.auth.cookie_secure,
    )
    return session_out(
        Principal(principal.role, principal.name, principal.key_id, "session", expires_s)
    )


@router.post("/logout", response_model=SessionOut, summary="Forget the session cookie")
async def logout(response: Response, settings: SettingsDep, _: PublicDep) -> SessionOut:
    response.delete_cookie(
        settings.auth.cookie_name,
        path="/",
        httponly=True,
        samesite="strict",
        secure=settings.auth.cookie_secure,
    )
    return SessionOut(role="public", name=None, via="anonymous")


@router.get(
    "/whoami",
    response_model=SessionOut,
    summary="The caller's role, account and session expiry",
    responses={401: {"model": ErrorOut}},
)
async def whoami(principal: PublicDep) -> SessionOut:
    return session_out(principal)
