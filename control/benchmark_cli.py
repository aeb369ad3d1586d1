"""`citytraffic signals benchmark` and `citytraffic signals chart`: the typer command functions
(registered in citytraffic/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from control.controllers import ALL_CONTROLLERS


def _grid(value: str) -> tuple[int, int]:
    try:
        x, y = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise typer.BadParameter("use NxM, for example 4x4") from None
    if not (1 <= x <= 20 and 1 <= y <= 20):
        raise typer.BadParameter("grid sides must be 1..20")
    return x, y


def _ints(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter("use comma-separated integers, for example 1,2,3") from None


def signals_benchmark(
    grid: Annotated[str, typer.Option(help="junctions NxM (Nx1 is an arterial)")] = "4x4",
    demand: Annotated[
        float, typer.Option(help="vehicles per hour inserted over --duration")
    ] = 3000,
    pattern: Annotated[str, typer.Option(help="uniform | ew-heavy")] = "uniform",
    seeds: Annotated[str, typer.Option(help="comma-separated seeds")] = "1,2,3,4,5",
    duration: Annotated[int, typer.Option(help="demand duration in s")] = 3600,
    controllers: Annotated[
        str, typer.Option(help=f"comma-separated, from {','.join(ALL_CONTROLLERS)}")
    ] = ",".join(ALL_CONTROLLERS),
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result here")] = None,
    cache: Annotated[Path, typer.Option(help="scenario and run files")] = Path("var/sumo"),
    svg_out: Annotated[
        Path | None, typer.Option("--svg", help="write a bar chart of the result here (SVG)")
    ] = None,
) -> None:
    """Run SUMO scenarios under every controller and compare mean time loss per vehicle."""
    from control.benchmark import BenchmarkSpec, format_table, run_benchmark

    gx, gy = _grid(grid)
    if pattern not in ("uniform", "ew-heavy"):
        raise typer.BadParameter("pattern must be uniform or ew-heavy")
    names = tuple(c.strip() for c in controllers.split(",") if c.strip())
    bad = [c for c in names if c not in ALL_CONTROLLERS]
    if bad or not names:
        raise typer.BadParameter(f"unknown controllers {bad}; choose from {ALL_CONTROLLERS}")
    if demand <= 0 or duration <= 0:
        raise typer.BadParameter("demand and duration must be positive")
    spec = BenchmarkSpec(
        grid_x=gx,
        grid_y=gy,
        demand_vph=demand,
        pattern=pattern,
        seeds=_ints(seeds),
        duration_s=duration,
        controllers=names,
        cache_dir=cache,
    )
    result = run_benchmark(spec, say=lambda m: typer.echo(m, err=True))
    typer.echo(format_table(result))
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1))
    if svg_out is not None:
        _write_chart([result], svg_out)


def _write_chart(results: list[dict[str, Any]], out: Path) -> None:
    from control.benchmark_chart import chart_svg, merge_results

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(chart_svg(merge_results(results)))
    typer.echo(f"chart written to {out}", err=True)


def signals_chart(
    results: Annotated[list[Path], typer.Argument(help="benchmark JSON files (--json output)")],
    svg_out: Annotated[Path, typer.Option("--svg", help="the chart to write (SVG)")],
) -> None:
    """Chart benchmark results; files of the same scenario (say baselines and citytraffic run
    apart) become one panel."""
    loaded: list[dict[str, Any]] = []
    for path in results:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise typer.BadParameter(f"{path}: {exc}") from None
        if not isinstance(data, dict):
            raise typer.BadParameter(f"{path}: not a benchmark result (a JSON object)")
        loaded.append(data)
    try:
        _write_chart(loaded, svg_out)
    except (ValueError, KeyError, TypeError) as exc:
        raise typer.BadParameter(f"not a benchmark result: {exc}") from None
