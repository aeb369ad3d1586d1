"""Who is calling (`Authenticator`) and may they (`RoleGuard`): the role decision of every route.

Credentials, first match wins: `Authorization: Bearer <key>`, `X-API-Key: <key>`, the session
cookie set by `POST /auth/login`. A presented key that is unknown or revoked is refused (401);
a cookie that is expired, badly signed or names a revoked key counts as no credentials (so a
stale browser cookie never breaks the public pages). A cookie-authenticated request with an
unsafe method or a WebSocket handshake must come from the API's own origin or a configured CORS
origin (the cookie is SameSite=Strict already; this is the second lock).

Every route carries exactly one `RoleGuard` (public, operator or admin), attached as a
dependency; `route_role(route)` reads it back, `create_app` refuses to build an app with a route
that has none, and a table-driven test calls every route with each role. Answers: 401 with
`WWW-Authenticate: Bearer` when credentials are missing or invalid, 403 when the caller's role is
too low, 429 with `Retry-After` when an anonymous client exceeds the public rate limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.requests import HTTPConnection

from api.auth.keys import KeyFile, Role
from api.auth.session import SessionSigner
from api.ratelimit import RateLimiter

__all__ = [
    "ANONYMOUS",
    "Authenticator",
    "Principal",
    "RoleGuard",
    "require_admin",
    "require_operator",
    "require_public",
    "require_public_limited",
    "route_role",
    "stream_guard",
]

REALM = 'Bearer realm="citytraffic"'
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    name: str | None = None
    key_id: str | None = None
    via: str = "anonymous"  # anonymous | api_key | session
    session_expires_s: int | None = None

    @property
    def actor(self) -> str:
        return self.name or "anonymous"


ANONYMOUS = Principal(Role.PUBLIC)


class AuthError(Exception):
    def __init__(self, detail: str, invalid: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid = invalid


class Authenticator:
    def __init__(
        self,
        keys: KeyFile,
        signer: SessionSigner | Callable[[], SessionSigner],
        limiter: RateLimiter,
        *,
        cookie_name: str,
        session_ttl_s: int,
        allowed_origins: Sequence[str] = (),
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self.keys = keys
        self._signer = signer  # or a factory: the secret file is only created when needed
        self.limiter = limiter
        self.cookie_name = cookie_name
        self.session_ttl_s = session_ttl_s
        self.allowed_origins = frozenset(o.rstrip("/") for o in allowed_origins)
        self.clock_s = clock_s

    @property
    def signer(self) -> SessionSigner:
        if not isinstance(self._signer, SessionSigner):
            self._signer = self._signer()
        return self._signer

    def principal_for_key(self, key: str) -> Principal | None:
        record = self.keys.verify(key.strip())
        if record is None:
            return None
        return Principal(record.role_enum, record.name, record.id, "api_key")

    def issue_session(self, principal: Principal) -> tuple[str, int]:
        assert principal.key_id is not None
        expires_s = int(self.clock_s()) + self.session_ttl_s
        return self.signer.issue(principal.key_id, expires_s), expires_s

    def authenticate(self, conn: HTTPConnection) -> tuple[Principal, str | None]:
        """(principal, why a cookie was ignored). Raises AuthError for a bad presented key."""
        headers = conn.headers
        authorization = headers.get("authorization")
        key: str | None = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthError(
                    "unsupported Authorization header: send 'Authorization: Bearer <key>'",
                    invalid=True,
                )
            key = value
        else:
            key = headers.get("x-api-key")
        if key is not None:
            principal = self.principal_for_key(key)
            if principal is None:
                raise AuthError("invalid or revoked API key", invalid=True)
            return principal, None
        token = conn.cookies.get(self.cookie_name)
        if not token:
            return ANONYMOUS, None
        claims = self.signer.verify(token, self.clock_s())
        record = self.keys.get(claims.key_id) if claims is not None else None
        if claims is None or record is None or not record.active:
            return ANONYMOUS, "the session cookie is expired or no longer valid: log in again"
        if not self._origin_ok(conn):
            return ANONYMOUS, "session cookie refused: the request comes from another origin"
        return (
            Principal(record.role_enum, record.name, record.id, "session", claims.expires_s),
            None,
        )

    def _origin_ok(self, conn: HTTPConnection) -> bool:
        """Cookie sessions: unsafe methods and WebSockets only from our own or a CORS origin."""
        if conn.scope["type"] == "http" and conn.scope.get("method", "GET") in SAFE_METHODS:
            return True
        origin = conn.headers.get("origin")
        if origin is None:
            return True  # not a browser cross-site request (SameSite=Strict covers the rest)
        origin = origin.rstrip("/")
        if origin in self.allowed_origins or "*" in self.allowed_origins:
            return True
        return urlsplit(origin).netloc == conn.headers.get("host", "")


def _unauthorized(detail: str, invalid: bool) -> HTTPException:
    challenge = REALM + (', error="invalid_token"' if invalid else "")
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


NEEDS_CREDENTIALS = (
    "authentication required: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>', "
    "or log in with POST /auth/login"
)


class RoleGuard:
    """A FastAPI dependency: the minimum role of a route (and, for public data, a rate limit)."""

    def __init__(self, role: Role, *, rate_limited: bool = False, websocket: bool = False):
        self.role = role
        self.rate_limited = rate_limited
        self.websocket = websocket

    def __repr__(self) -> str:
        return f"RoleGuard({self.role.label}, rate_limited={self.rate_limited})"

    async def __call__(self, conn: HTTPConnection) -> Principal:
        auth: Authenticator = conn.app.state.auth
        try:
            principal, cookie_note = auth.authenticate(conn)
        except AuthError as exc:
            if self.websocket:
                conn.state.auth_error = exc.detail
                return ANONYMOUS
            raise _unauthorized(exc.detail, exc.invalid) from None
        if principal.role < self.role:
            if principal.role is Role.PUBLIC:
                raise _unauthorized(cookie_note or NEEDS_CREDENTIALS, cookie_note is not None)
            raise HTTPException(
                403,
                f"role {self.role.label} required: {principal.name!r} has role "
                f"{principal.role.label}",
            )
        if self.rate_limited and principal.role is Role.PUBLIC:
            client = conn.client.host if conn.client is not None else "unknown"
            decision = auth.limiter.check(client)
            if not decision.allowed:
                raise HTTPException(
                    429,
                    f"rate limit of {decision.limit_per_s:g} requests/s per client exceeded; "
                    f"retry after {decision.retry_after_s} s (operators with a key are not "
                    "limited)",
                    headers={"Retry-After": str(decision.retry_after_s)},
                )
        conn.state.principal = principal
        return principal


require_public = RoleGuard(Role.PUBLIC)
require_public_limited = RoleGuard(Role.PUBLIC, rate_limited=True)
require_operator = RoleGuard(Role.OPERATOR)
require_admin = RoleGuard(Role.ADMIN)
stream_guard = RoleGuard(Role.PUBLIC, websocket=True)


def _guards(dependant: Any) -> list[RoleGuard]:
    found: list[RoleGuard] = []
    stack = [dependant]
    while stack:
        node = stack.pop()
        if isinstance(node.call, RoleGuard):
            found.append(node.call)
        stack.extend(node.dependencies)
    return found


def route_role(route: Any) -> Role | None:
    """The role a route requires, from the RoleGuard dependencies of its dependant (the highest
    if several); None when it has none. `route` is an APIRoute / APIWebSocketRoute, or one of
    FastAPI's route contexts (api.auth.openapi.iter_routes)."""
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    return max((g.role for g in _guards(dependant)), default=None)
