"""Congestion forecasting: models with one fit/predict interface (`forecasting.models`), the
backtest tool (`forecasting.backtest`, CLI in `forecasting.cli`) and the live forecaster
(`forecasting.live`). See docs/forecasting.md."""
