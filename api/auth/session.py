"""Signed, stateless session cookies for the dashboard (and its WebSocket).

`POST /auth/login` with an API key returns a cookie `<payload>.<signature>`: the payload is
base64url JSON `{"kid": key id, "exp": unix seconds}`, the signature base64url
HMAC-SHA256(secret, payload). The cookie names the key, never contains it; every request checks
the signature in constant time, the expiry, and that the key is still active, so revoking a key
ends all of its sessions at once. The secret comes from `auth.session_secret` or is generated
once (32 random bytes) into `<data_dir>/session-secret` (mode 0600) so sessions survive restarts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SessionClaims", "SessionSigner", "load_or_create_secret"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class SessionClaims:
    key_id: str
    expires_s: int


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must have at least 32 bytes")
        self._secret = secret

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, key_id: str, expires_s: int) -> str:
        payload = _b64(json.dumps({"kid": key_id, "exp": expires_s}).encode())
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, now_s: float) -> SessionClaims | None:
        """The claims of a well-signed, unexpired token; None for anything else."""
        if len(token) > 512 or token.count(".") != 1:
            return None
        payload, signature = token.split(".")
        if not hmac.compare_digest(signature.encode(), self._sign(payload).encode()):
            return None
        try:
            claims = json.loads(_unb64(payload))
            key_id, expires_s = claims["kid"], claims["exp"]
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if not isinstance(key_id, str) or not isinstance(expires_s, int) or expires_s <= now_s:
            return None
        return SessionClaims(key_id, expires_s)


def _read_secret(path: Path) -> bytes | None:
    try:
        text = path.read_text("ascii").strip()
        return bytes.fromhex(text) if len(text) >= 64 else None
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # unreadable content: replaced below (sessions signed with it end)


def load_or_create_secret(path: Path) -> bytes:
    """The secret in `path`, created (32 random bytes, hex, mode 0600) when missing."""
    existing = _read_secret(path)
    if existing is not None:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secret.hex() + "\n")
    try:
        os.link(tmp, path)  # the first of two processes starting at once wins
    except FileExistsError:
        winner = _read_secret(path)
        if winner is not None:
            tmp.unlink()
            return winner
        tmp.replace(path)
        return secret
    tmp.unlink()
    return secret
