"""Command functions of `citytraffic forecast ...`; `citytraffic.cli` registers them:

forecast_app.command("backtest")(backtest_command)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from forecasting.backtest import format_table, run_backtest
from forecasting.data import ForecastDataError
from forecasting.models import MODEL_NAMES


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise typer.BadParameter(f"{what} must be comma-separated whole numbers: {text!r}") from exc
    if not values or min(values) < 1:
        raise typer.BadParameter(f"{what} must be positive: {text!r}")
    return values


def backtest_command(
    csv: Annotated[Path, typer.Option("--csv", help="Wide CSV: one column per series.")],
    time_column: Annotated[
        str | None, typer.Option("--time-column", help="Timestamp column (auto-detected).")
    ] = None,
    freq: Annotated[str, typer.Option("--freq", help="Step of the rows, e.g. 5min, 1h.")] = "5min",
    start: Annotated[
        datetime | None,
        typer.Option("--start", help="Time of the first row when the CSV has no time column."),
    ] = None,
    horizons: Annotated[
        str, typer.Option("--horizons", help="Horizons in steps, comma-separated.")
    ] = "3,6,12",
    adjacency: Annotated[
        Path | None,
        typer.Option("--adjacency", help="Square CSV matrix, no header, in series order."),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option("--models", help=f"Comma-separated subset of: {', '.join(MODEL_NAMES)}."),
    ] = None,
    mask_zeros: Annotated[
        bool, typer.Option("--mask-zeros", help="Treat zeros as missing values.")
    ] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Backtest forecasting models on a wide CSV (70/10/20 split, rolling origin)."""
    try:
        result = run_backtest(
            csv,
            time_column=time_column,
            freq=freq,
            start=start,
            horizons=_int_list(horizons, "--horizons"),
            adjacency=adjacency,
            models=[m.strip() for m in models.split(",") if m.strip()] if models else None,
            mask_zeros=mask_zeros,
            json_out=json_out,
            progress=progress,
        )
    except ForecastDataError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(format_table(result))
