"""`python -m ingest`: run the ingest service configured by CITYTRAFFIC_* environment variables
(see citytraffic/settings.py). The `citytraffic ingest` CLI command calls the same function."""

from __future__ import annotations

import argparse
import logging
import sys

from citytraffic.settings import Settings
from citytraffic.storage.factory import open_store
from ingest.service import run_ingest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest", description=__doc__)
    parser.add_argument("--metrics-port", type=int, default=None, help="serve /metrics here")
    parser.add_argument(
        "--stats-interval-s", type=float, default=10.0, help="ingest_stats point period"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per write otherwise
    store = open_store(settings)
    return run_ingest(
        settings, store, metrics_port=args.metrics_port, stats_interval_s=args.stats_interval_s
    )


if __name__ == "__main__":
    sys.exit(main())
