"""Named API keys, stored only as SHA-256 digests in a small JSON file that survives restarts.

A key is `ctk_` + `secrets.token_urlsafe(32)` (256 bits of entropy), shown once when created and
never stored: the file keeps its SHA-256 digest, the account name, the role and the dates. A
presented key is hashed and compared with every active digest by `hmac.compare_digest`
(constant time, no early exit). Revoking a key sets `revoked_at`; the record stays for the audit.

The file is shared by the API process and the CLI (`citytraffic keys create`): every change is a
read-modify-write under an exclusive `flock` on `<file>.lock`, written to a temporary file and
renamed (atomic), mode 0600. The API re-reads the file when its mtime changes (checked at most
every `auth.key_reload_s`), so a key created or revoked by the CLI takes effect without a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from enum import IntEnum
from pathlib import Path

__all__ = [
    "KEY_PREFIX",
    "ApiKeyRecord",
    "KeyFile",
    "KeyFileError",
    "Role",
    "digest",
]

KEY_PREFIX = "ctk_"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
KEY_PATTERN = re.compile(r"^ctk_[A-Za-z0-9_-]{20,100}$")


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    PUBLIC = 0
    OPERATOR = 1
    ADMIN = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r} (public, operator, admin)") from None


class KeyFileError(Exception):
    """The key file cannot be read or written, or a request to change it is invalid."""


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    name: str
    role: str  # operator | admin
    sha256: str  # hex digest of the whole key
    created_at: str  # RFC 3339 UTC
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def role_enum(self) -> Role:
        return Role.parse(self.role)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class KeyFile:
    """The key file at `path`; thread-safe; every public method is cheap when nothing changed."""

    def __init__(self, path: Path, reload_s: float = 1.0) -> None:
        self.path = path
        self.reload_s = reload_s
        self._lock = threading.Lock()
        self._records: tuple[ApiKeyRecord, ...] = ()
        self._mtime_ns: int | None = None
        self._checked = float("-inf")

    # -- reading ---------------------------------------------------------------------------
    def records(self) -> tuple[ApiKeyRecord, ...]:
        self._maybe_reload()
        return self._records

    def verify(self, key: str) -> ApiKeyRecord | None:
        """The active record whose digest equals the key's, compared in constant time."""
        if not KEY_PATTERN.match(key):
            return None
        presented = digest(key).encode()
        found: ApiKeyRecord | None = None
        for record in self.records():
            same = hmac.compare_digest(presented, record.sha256.encode())
            if same and record.active:
                found = record
        return found

    def get(self, key_id: str) -> ApiKeyRecord | None:
        return next((r for r in self.records() if r.id == key_id), None)

    def _maybe_reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._checked < self.reload_s:
            return
        with self._lock:
            self._checked = now
            try:
                mtime_ns = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                self._records, self._mtime_ns = (), None
                return
            if mtime_ns == self._mtime_ns and not force:
                return
            self._records = self._read()
            self._mtime_ns = mtime_ns

    def _read(self) -> tuple[ApiKeyRecord, ...]:
        try:
            doc = json.loads(self.path.read_text("utf-8"))
            return tuple(ApiKeyRecord(**item) for item in doc.get("keys", []))
        except FileNotFoundError:
            return ()
        except (OSError, ValueError, TypeError) as exc:
            raise KeyFileError(f"cannot read the key file {self.path}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[list[ApiKeyRecord]]:
        """Lock, read, let the caller change the list, write it back atomically."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            lock_path = self.path.with_name(self.path.name + ".lock")
            with lock_path.open("a") as lock, self._lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                records = list(self._read())
                yield records
                self._write(records)
        except OSError as exc:
            raise KeyFileError(f"cannot write the key file {self.path}: {exc}") from exc
        self._checked = float("-inf")
        self._maybe_reload(force=True)

    def _write(self, records: list[ApiKeyRecord]) -> None:
        body = json.dumps({"version": 1, "keys": [asdict(r) for r in records]}, indent=1)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body + "\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.path)

    def create(self, name: str, role: Role, created_by: str) -> tuple[str, ApiKeyRecord]:
        """A new key for account `name`: returns (plain key, record). The plain key is not kept."""
        if not NAME_PATTERN.match(name):
            raise KeyFileError(
                f"account name {name[:80]!r} is not allowed: 1-64 letters, digits, '_.@-'"
            )
        if role is Role.PUBLIC:
            raise KeyFileError("a key for role public makes no sense: public routes need none")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._exclusive() as records:
            taken = {r.id for r in records}
            key_id = "k-" + secrets.token_hex(5)
            while key_id in taken:
                key_id = "k-" + secrets.token_hex(5)
            record = ApiKeyRecord(
                id=key_id,
                name=name,
                role=role.label,
                sha256=digest(key),
                created_at=_now_rfc3339(),
                created_by=created_by,
            )
            records.append(record)
        return key, record

    def revoke(self, key_id: str, revoked_by: str) -> ApiKeyRecord | None:
        """Revoke one key; None when there is no such key. Revoking twice keeps the first date."""
        result: ApiKeyRecord | None = None
        with self._exclusive() as records:
            for i, r in enumerate(records):
                if r.id == key_id:
                    if r.active:
                        records[i] = replace(r, revoked_at=_now_rfc3339(), revoked_by=revoked_by)
                    result = records[i]
        return result

    def revoke_name(self, name: str, revoked_by: str) -> int:
        """Revoke every active key of account `name`; returns how many."""
        count = 0
        with self._exclusive() as records:
            for i, r in enumerate(records):
                if r.name == name and r.active:
                    records[i] = replace(r, revoked_at=_now_rfc3339(), revoked_by=revoked_by)
                    count += 1
        return count
