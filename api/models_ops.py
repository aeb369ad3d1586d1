"""Request and response models of the access-control, admin and operator routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"


class LoginIn(BaseModel):
    key: str = Field(min_length=1, max_length=200, description="an operator or admin API key")


class SessionOut(BaseModel):
    role: Literal["public", "operator", "admin"]
    name: str | None = Field(description="the account; null when anonymous")
    via: Literal["anonymous", "api_key", "session"]
    expires_at: str | None = Field(None, description="when the session cookie expires")


class KeyCreateIn(BaseModel):
    name: str = Field(pattern=NAME_PATTERN, description="account name (operator or service)")
    role: Literal["operator", "admin"]


class KeyOut(BaseModel):
    id: str
    name: str
    role: str
    active: bool
    created_at: str
    created_by: str
    revoked_at: str | None
    revoked_by: str | None


class KeyCreatedOut(KeyOut):
    key: str = Field(description="the key itself: shown once, stored only as its SHA-256 digest")


class KeyListOut(BaseModel):
    keys: list[KeyOut]


class ConfigOut(BaseModel):
    settings: dict[str, Any] = Field(description="effective settings; secrets masked")


class AlarmOut(BaseModel):
    state: Literal["new", "acknowledged", "shelved", "closed"]
    by: str | None = Field(description="operator of the last action")
    at: str | None = Field(description="time of the last action")
    reason: str | None
    shelved_until: str | None


class ActionIn(BaseModel):
    action: Literal["acknowledge", "shelve", "close"]
    reason: str = Field(
        "", max_length=500, description="why (required to shelve or close); kept in the audit log"
    )
    shelve_for_s: int | None = Field(
        None, ge=60, le=7 * 86400, description="shelve duration; default 3600"
    )


class ActionOut(BaseModel):
    kind: Literal["incident", "detector"]
    target: str
    operator: AlarmOut


class IncidentOut(BaseModel):
    id: str
    method: str = Field(description="california8 | pair_persistence | station_persistence")
    state: str = Field(description="tentative | confirmed | ended")
    start: str
    confirmed: str | None
    end: str | None
    end_reason: str | None
    updated: str
    link: str
    links: list[str]
    upstream_station: str
    downstream_station: str | None
    detectors: list[str]
    lon: float
    lat: float
    confidence: float = Field(description="0..1")
    intervals: int
    occdf_pct: float | None
    occrdf: float | None
    docctd: float | None
    description: str
    operator: AlarmOut


class IncidentsOut(BaseModel):
    conditions_at: str | None = Field(description="when the engines last ran")
    incidents: list[IncidentOut] = Field(description="newest start first")


class DetectorHealthOut(BaseModel):
    detector: str
    site: str
    link: str
    status: Literal["ok", "suspect", "bad"]
    flags: list[str]
    reasons: list[str]
    assessed_at: str
    last_seen: str | None
    samples: int
    silent_s: float
    operator: AlarmOut


class DetectorHealthListOut(BaseModel):
    assessed_at: str | None = Field(description="when health was last assessed; null: not yet")
    window_s: int = Field(description="readings of this many seconds are assessed")
    counts: dict[str, int] = Field(description="detectors per status")
    detectors: list[DetectorHealthOut]


class ProblemOut(BaseModel):
    """NGSI-LD error (ETSI GS CIM 009, problem details)."""

    type: str
    title: str
    detail: str | None = None
