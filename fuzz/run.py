"""A bounded atheris run of fuzz_ingest.py with a seed corpus of valid messages (the test
tests/unit/test_hostile_fuzz.py runs it; marked slow).

    python fuzz/run.py [--runs 20000] [--max-len 8192] [--corpus DIR] [--seed 1]

Exit code 0 when libFuzzer finished its runs without finding a crash; a crash exits non-zero
and leaves its input in --artifacts (default: <tmp>/citytraffic-fuzz/crash-<hash>); replay it
with `python fuzz/fuzz_ingest.py <that file>`. Seeds are written into a temporary
corpus (or into --corpus, kept for the next run).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from citytraffic.messaging import payloads
from ingest.loadgen import Stream

TARGET = Path(__file__).resolve().parent / "fuzz_ingest.py"


def seeds() -> list[bytes]:
    """Valid messages of every kind, each prefixed by the topic selector byte of its kind."""
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    stream = Stream(60, 1_767_225_600, per_message=3, junctions=4)
    messages: list[tuple[int, payloads.Message]] = [(0, m) for m in stream.iter_messages()]
    messages += [
        (1, payloads.SingleReading("gw1", 1, "J1", ts, 60, "D1", 3, 0.25, 48.5)),
        (2, payloads.SignalState("gw1", 2, "J1", ts, "P 1", 'ph"2\\', "GGrr", 12.5)),
        (3, payloads.GatewayStatus("gw1", "online", ts)),
        (3, payloads.GatewayStatus("gw1", "offline")),
    ]
    return [bytes([kind]) + payloads.encode(m) for kind, m in messages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--max-len", type=int, default=8192)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--artifacts", type=Path, default=Path(tempfile.gettempdir()) / "citytraffic-fuzz"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-corpus-") as tmp:
        corpus = args.corpus or Path(tmp)
        corpus.mkdir(parents=True, exist_ok=True)
        args.artifacts.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (corpus / f"seed-{i:03d}").write_bytes(seed)
        command = [
            sys.executable,
            str(TARGET),
            f"-runs={args.runs}",
            f"-max_len={args.max_len}",
            f"-seed={args.seed}",
            "-timeout=20",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            f"-artifact_prefix={args.artifacts}/",
            str(corpus),
        ]
        return subprocess.run(command, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
