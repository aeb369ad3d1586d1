#!/usr/bin/env bash
# Install what citytraffic needs. Usage: scripts/install.sh [python|all]
#   python : a local virtualenv in .venv with citytraffic and its dev tools (no root needed)
#   all    : python, plus mosquitto and influxdb from Debian packages when they are missing
#            (and chromium for the browser tests), via apt-get (root or sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-python}"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing Python dependencies into $VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi

if [ "$what" = "all" ]; then
  missing=()
  have mosquitto || missing+=(mosquitto)
  have influxd || missing+=(influxdb)
  have chromium || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  # The Debian packages start system services where systemd runs; tests use private instances.
fi
