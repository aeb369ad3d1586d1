"""Access control: roles public / operator / admin, named API keys, dashboard sessions.

Plain functions for the CLI (the lead wires `citytraffic keys ...` and the demo to them):

- `create_api_key(settings, name, role) -> str`: a new key for account `name`; returns the plain
  key (shown once, stored only as its SHA-256 digest).
- `revoke_api_key(settings, key_id) -> bool`, `list_api_keys(settings) -> list[ApiKeyRecord]`.
- `ensure_demo_operator_key(settings) -> str`: revokes the previous `demo-operator` keys and
  creates a new one, for `citytraffic demo` to print beside the URL.

Everything reads the key file at `key_file_path(settings)`: `auth.key_file`, default
`<data_dir>/api-keys.json`. See docs/api.md, section "Access control".
"""

from __future__ import annotations

from pathlib import Path

from api.auth.guard import (
    ANONYMOUS,
    Authenticator,
    Principal,
    RoleGuard,
    require_admin,
    require_operator,
    require_public,
    require_public_limited,
    route_role,
    stream_guard,
)
from api.auth.keys import ApiKeyRecord, KeyFile, KeyFileError, Role
from api.auth.session import SessionSigner, load_or_create_secret
from api.ratelimit import RateLimiter
from citytraffic.settings import Settings

__all__ = [
    "ANONYMOUS",
    "DEMO_OPERATOR",
    "ApiKeyRecord",
    "Authenticator",
    "KeyFile",
    "KeyFileError",
    "Principal",
    "Role",
    "RoleGuard",
    "build_authenticator",
    "create_api_key",
    "ensure_demo_operator_key",
    "key_file_path",
    "list_api_keys",
    "require_admin",
    "require_operator",
    "require_public",
    "require_public_limited",
    "revoke_api_key",
    "route_role",
    "stream_guard",
]

DEMO_OPERATOR = "demo-operator"


def key_file_path(settings: Settings) -> Path:
    return settings.path(settings.auth.key_file, "api-keys.json")


def _key_file(settings: Settings) -> KeyFile:
    return KeyFile(key_file_path(settings), reload_s=settings.auth.key_reload_s)


def create_api_key(settings: Settings, name: str, role: str, created_by: str = "cli") -> str:
    """Create a key for account `name` with role `operator` or `admin`; return the plain key.

    Raises KeyFileError (bad name or role, unwritable file) and ValueError (unknown role)."""
    key, _ = _key_file(settings).create(name, Role.parse(role), created_by)
    return key


def revoke_api_key(settings: Settings, key_id: str, revoked_by: str = "cli") -> bool:
    """Revoke a key by id (`k-...`, see list_api_keys); False when there is no such key."""
    return _key_file(settings).revoke(key_id, revoked_by) is not None


def list_api_keys(settings: Settings) -> list[ApiKeyRecord]:
    return list(_key_file(settings).records())


def ensure_demo_operator_key(settings: Settings) -> str:
    """A fresh operator key for the demo: older `demo-operator` keys are revoked first."""
    keys = _key_file(settings)
    keys.revoke_name(DEMO_OPERATOR, "demo")
    key, _ = keys.create(DEMO_OPERATOR, Role.OPERATOR, "demo")
    return key


def build_authenticator(settings: Settings) -> Authenticator:
    """The Authenticator of an app: key file, session secret, rate limiter from settings.

    The session secret file is created on the first login or cookie check, not before."""
    auth, feeds = settings.auth, settings.feeds

    def signer() -> SessionSigner:
        if auth.session_secret is not None:
            return SessionSigner(auth.session_secret.get_secret_value().encode())
        return SessionSigner(load_or_create_secret(settings.path(None, "session-secret")))

    limiter = RateLimiter(
        feeds.rate_per_s,
        feeds.burst,
        trusted=feeds.trusted_clients,
        trusted_rate_per_s=feeds.trusted_rate_per_s,
        trusted_burst=feeds.trusted_burst,
        max_clients=feeds.max_tracked_clients,
    )
    return Authenticator(
        _key_file(settings),
        signer,
        limiter,
        cookie_name=auth.cookie_name,
        session_ttl_s=auth.session_ttl_s,
        allowed_origins=settings.api.cors_origins,
    )
