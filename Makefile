# The two set-up commands of the README:
#   make demo   installs the Python dependencies into .venv and runs the whole pipeline locally
#   make test   installs everything (Python deps, mosquitto, influxdb) and runs the whole suite
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: demo test install install-all lint bench clean

install:
	scripts/install.sh python

install-all:
	scripts/install.sh all

demo: install
	$(VENV)/bin/citytraffic demo $(DEMO_ARGS)

# Every marker runs (integration, sumo, browser, slow); pytest's exit code 5 (no tests) fails.
test: install-all
	$(PY) -m pytest tests $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: install-all
	$(PY) benchmarks/ingest.py --readings 200000
	$(PY) benchmarks/forecasting.py
	$(PY) benchmarks/api.py
	$(PY) benchmarks/dashboard.py
	$(PY) benchmarks/simulators.py

clean:
	rm -rf var artifacts .pytest_cache .mypy_cache .ruff_cache
