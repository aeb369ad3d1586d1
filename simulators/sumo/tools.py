"""Locate the SUMO binaries and tools shipped by the eclipse-sumo wheel and run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


class SumoMissing(RuntimeError):
    """eclipse-sumo / libsumo are not installed (install the `citytraffic[sumo]` extra)."""


def sumo_home() -> Path:
    try:
        import sumo  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SumoMissing("eclipse-sumo is not installed: pip install 'citytraffic[sumo]'") from exc
    return Path(sumo.SUMO_HOME)


def binary(name: str) -> Path:
    path = sumo_home() / "bin" / name
    if not path.exists():
        raise SumoMissing(f"SUMO binary {name} not found in {path.parent}")
    return path


def tool(name: str) -> Path:
    path = sumo_home() / "tools" / name
    if not path.exists():
        raise SumoMissing(f"SUMO tool {name} not found in {path.parent}")
    return path


def run_quiet(args: list[str], cwd: Path) -> None:
    """Run a SUMO program; raise RuntimeError with its stderr when it fails."""
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr[-2000:]}"
        )


def python_tool_args(name: str) -> list[str]:
    return [sys.executable, str(tool(name))]
