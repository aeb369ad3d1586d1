"""Fault specifications: what to break, where and when (docs/simulators.md, "Faults").

A spec is a command-line string or a JSON/YAML file. The string form is

    TYPE[:KEY=VALUE[,KEY=VALUE...]][;TYPE...]

e.g. `stuck:detector=LA-7173*,at=1h,for=2h;dead:gateway=gw-la-03,at=30m,for=20m;skew:offset=2h`.

Keys (all optional unless noted):
- selectors `gateway`, `site`, `detector`: glob patterns (`*`, `?`), alternatives joined by `|`;
  absent = every one. `detector` is only for the reading faults (stuck, dropout, noise).
- `at`, `for`: the window in source time relative to the run start (`90`, `90s`, `15m`, `2h`,
  `1d`); `for` absent = until the end of the run.
- `p`: probability per reading / message in the window (default 1); `share`: the fraction of the
  matching detectors (reading faults), sites (message faults) or gateways (dead) picked once per
  run, seeded (default 1).
- `sd` (noise): relative standard deviation (default 0.1); `copies` (duplicate, default 1);
  `delay` (reorder): how many later messages of the gateway overtake the held one (default 2);
  `offset` (skew, required): signed duration added to the source timestamps;
  `kind` (malformed): `json|schema|nan|oversized` (default all four, used in turn).

A file holds a list of objects (or `{"faults": [...], "seed": N}`) with `type` and the same keys;
selectors and `kind` may be lists, durations numbers (seconds) or strings.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml


class FaultType(StrEnum):
    STUCK = "stuck"  # a detector repeats its last values
    DROPOUT = "dropout"  # readings missing
    NOISE = "noise"  # random error on the values
    DEAD = "dead"  # the gateway stops and drops its connection (the last will fires)
    DUPLICATE = "duplicate"  # the same message (same seq) sent again
    REORDER = "reorder"  # a message overtaken by later ones
    SKEW = "skew"  # source timestamps shifted
    MALFORMED = "malformed"  # bytes the decoder must refuse


READING_FAULTS = frozenset({FaultType.STUCK, FaultType.DROPOUT, FaultType.NOISE})
MESSAGE_FAULTS = frozenset(
    {FaultType.DUPLICATE, FaultType.REORDER, FaultType.SKEW, FaultType.MALFORMED}
)
MALFORMED_KINDS = ("json", "schema", "nan", "oversized")

_COMMON = {"at", "for", "gateway", "p", "share"}
ALLOWED_KEYS: dict[FaultType, frozenset[str]] = {
    FaultType.STUCK: frozenset(_COMMON | {"site", "detector"}),
    FaultType.DROPOUT: frozenset(_COMMON | {"site", "detector"}),
    FaultType.NOISE: frozenset(_COMMON | {"site", "detector", "sd"}),
    FaultType.DEAD: frozenset({"at", "for", "gateway", "share"}),
    FaultType.DUPLICATE: frozenset(_COMMON | {"site", "copies"}),
    FaultType.REORDER: frozenset(_COMMON | {"site", "delay"}),
    FaultType.SKEW: frozenset(_COMMON | {"site", "offset"}),
    FaultType.MALFORMED: frozenset(_COMMON | {"site", "kind"}),
}
_UNITS_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^([+-]?\d+(?:\.\d+)?)\s*([smhd]?)$")


class FaultSpecError(ValueError):
    """A fault spec that cannot be used; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Fault:
    type: FaultType
    gateway: tuple[str, ...] = ()  # glob patterns; empty = all
    site: tuple[str, ...] = ()
    detector: tuple[str, ...] = ()
    at_s: float = 0.0
    for_s: float | None = None  # None: until the end of the run
    p: float = 1.0
    share: float = 1.0
    sd: float = 0.1
    copies: int = 1
    delay: int = 2
    offset_s: float = 0.0
    kinds: tuple[str, ...] = MALFORMED_KINDS

    def params(self) -> dict[str, Any]:
        """The parameters as written to the ground truth (only those that mean something)."""
        out: dict[str, Any] = {"at_s": self.at_s, "for_s": self.for_s}
        for key in ("gateway", "site", "detector"):
            if getattr(self, key):
                out[key] = list(getattr(self, key))
        if self.type is not FaultType.DEAD:
            out["p"] = self.p
        out["share"] = self.share
        extra: dict[FaultType, dict[str, Any]] = {
            FaultType.NOISE: {"sd": self.sd},
            FaultType.DUPLICATE: {"copies": self.copies},
            FaultType.REORDER: {"delay": self.delay},
            FaultType.SKEW: {"offset_s": self.offset_s},
            FaultType.MALFORMED: {"kinds": list(self.kinds)},
        }
        out.update(extra.get(self.type, {}))
        return out


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults of one run, where their ground truth goes, and the seed of their randomness."""

    faults: tuple[Fault, ...] = ()
    ground_truth: Path | None = None
    seed: int = 1


def parse_duration_s(text: str | float | int, what: str = "duration") -> float:
    """`90`, `90s`, `15m`, `2h`, `1d`, `-10m` -> seconds."""
    if isinstance(text, bool):
        raise FaultSpecError(f"{what}: {text!r} is not a duration")
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _DURATION.match(text.strip())
        if m is None:
            raise FaultSpecError(f"{what}: {text!r} is not a duration (e.g. 90, 90s, 15m, 2h, 1d)")
        value = float(m.group(1)) * _UNITS_S[m.group(2)]
    if not math.isfinite(value):
        raise FaultSpecError(f"{what}: {text!r} is not finite")
    return value


def parse_faults(text: str) -> tuple[Fault, ...]:
    """Parse the string form. Raises FaultSpecError."""
    faults: list[Fault] = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, _, rest = part.partition(":")
        items: dict[str, str] = {}
        for item in (i.strip() for i in rest.split(",") if rest.strip()):
            key, eq, value = item.partition("=")
            if not eq or not key.strip():
                raise FaultSpecError(f"fault {part!r}: {item!r} is not KEY=VALUE")
            if key.strip() in items:
                raise FaultSpecError(f"fault {part!r}: {key.strip()!r} given twice")
            items[key.strip()] = value.strip()
        faults.append(fault_from_mapping({"type": name.strip(), **items}))
    return tuple(faults)


def fault_from_mapping(obj: Mapping[str, Any]) -> Fault:
    """One fault from a dict of the file form (values may be strings, numbers or lists)."""
    raw_type = obj.get("type")
    try:
        ftype = FaultType(str(raw_type).strip().lower())
    except ValueError:
        known = ", ".join(t.value for t in FaultType)
        raise FaultSpecError(f"unknown fault type {raw_type!r} (known: {known})") from None
    where = f"fault {ftype.value}"
    unknown = set(obj) - ALLOWED_KEYS[ftype] - {"type"}
    if unknown:
        allowed = ", ".join(sorted(ALLOWED_KEYS[ftype]))
        raise FaultSpecError(f"{where}: unknown key(s) {sorted(unknown)} (allowed: {allowed})")
    kw: dict[str, Any] = {"type": ftype}
    for key in ("gateway", "site", "detector"):
        if key in obj:
            kw[key] = _patterns(obj[key], f"{where} {key}")
    if "at" in obj:
        kw["at_s"] = parse_duration_s(obj["at"], f"{where} at")
    if "for" in obj:
        kw["for_s"] = parse_duration_s(obj["for"], f"{where} for")
    for key in ("p", "share", "sd"):
        if key in obj:
            kw[key] = _number(obj[key], f"{where} {key}")
    for key in ("copies", "delay"):
        if key in obj:
            kw[key] = _integer(obj[key], f"{where} {key}")
    if "offset" in obj:
        kw["offset_s"] = parse_duration_s(obj["offset"], f"{where} offset")
    elif ftype is FaultType.SKEW:
        raise FaultSpecError(f"{where}: needs offset=DURATION (e.g. offset=2h or offset=-5m)")
    if "kind" in obj:
        kinds = _patterns(obj["kind"], f"{where} kind")
        bad = [k for k in kinds if k not in MALFORMED_KINDS]
        if bad or not kinds:
            raise FaultSpecError(f"{where}: kind must be among {'|'.join(MALFORMED_KINDS)}")
        kw["kinds"] = kinds
    fault = Fault(**kw)
    _check_ranges(fault, where)
    return fault


def _check_ranges(f: Fault, where: str) -> None:
    if f.at_s < 0:
        raise FaultSpecError(f"{where}: at must be >= 0")
    if f.for_s is not None and f.for_s <= 0:
        raise FaultSpecError(f"{where}: for must be > 0")
    if not 0.0 < f.p <= 1.0 or not 0.0 < f.share <= 1.0:
        raise FaultSpecError(f"{where}: p and share must be in (0, 1]")
    if not 0.0 < f.sd <= 10.0:
        raise FaultSpecError(f"{where}: sd must be in (0, 10]")
    if not 1 <= f.copies <= 100 or not 1 <= f.delay <= 10_000:
        raise FaultSpecError(f"{where}: copies must be in 1..100, delay in 1..10000")


def _patterns(value: Any, what: str) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split("|")
    out = tuple(str(i).strip() for i in items if str(i).strip())
    if not out:
        raise FaultSpecError(f"{what}: empty")
    return out


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultSpecError(f"{what}: {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise FaultSpecError(f"{what}: {value!r} is not a number")
    return number


def _integer(value: Any, what: str) -> int:
    number = _number(value, what)
    if number != int(number):
        raise FaultSpecError(f"{what}: {value!r} is not a whole number")
    return int(number)


def load_faults(spec: str) -> tuple[tuple[Fault, ...], int | None]:
    """A spec string, or `@FILE` / a path ending in .json, .yaml or .yml: (faults, seed in file)."""
    text = spec.strip()
    if text.startswith("@") or text.lower().endswith((".json", ".yaml", ".yml")):
        return _load_file(Path(text.removeprefix("@")))
    return parse_faults(text), None


def _load_file(path: Path) -> tuple[tuple[Fault, ...], int | None]:
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FaultSpecError(f"fault file {path}: {exc}") from None
    try:
        data: Any = (
            json.loads(content) if path.suffix.lower() == ".json" else yaml.safe_load(content)
        )
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise FaultSpecError(f"fault file {path}: not valid JSON/YAML: {exc}") from None
    seed: int | None = None
    if isinstance(data, dict):
        if "seed" in data:
            seed = _integer(data["seed"], f"fault file {path}: seed")
        data = data.get("faults")
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise FaultSpecError(f"fault file {path}: expected a list of fault objects")
    return tuple(fault_from_mapping(d) for d in data), seed


def fault_plan(
    spec: str | None, ground_truth: Path | None = None, seed: int | None = None
) -> FaultPlan | None:
    """The plan for a command line: None when `spec` is empty. Raises FaultSpecError.

    `seed` overrides a seed given in the file; the default is 1."""
    if spec is None or not spec.strip():
        return None
    faults, file_seed = load_faults(spec)
    if not faults:
        return None
    return FaultPlan(faults, ground_truth, seed if seed is not None else (file_seed or 1))
