"""The `citytraffic` command: the composition root. It builds Settings once, wires adapters
(store, broker client, network) and hands them to the services. Service modules never read the
environment themselves.
"""

from __future__ import annotations

import logging

import typer

from citytraffic.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
simulate_app = typer.Typer(no_args_is_help=True, help="Traffic sources that publish over MQTT.")
forecast_app = typer.Typer(no_args_is_help=True, help="Congestion forecasting.")
network_app = typer.Typer(no_args_is_help=True, help="Network files.")
app.add_typer(simulate_app, name="simulate")
app.add_typer(forecast_app, name="forecast")
app.add_typer(network_app, name="network")


def build_settings() -> Settings:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return settings


def main() -> None:
    app()


if __name__ == "__main__":
    main()
