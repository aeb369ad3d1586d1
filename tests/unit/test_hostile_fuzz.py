"""A bounded atheris run of fuzz/fuzz_ingest.py (decode -> convert -> encode -> strict parse, the
oracle of support/hostile.py): no crash, no broken invariant in 50,000 inputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
RUNS = 50_000
ROOT = Path(__file__).resolve().parents[2]


def test_atheris_run_finds_nothing(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fuzz" / "run.py"),
            "--runs",
            str(RUNS),
            "--artifacts",
            str(tmp_path / "artifacts"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert f"Done {RUNS} runs" in output, output[-4000:]
    assert not list((tmp_path / "artifacts").glob("crash-*"))
