#!/usr/bin/env bash
# Creates .venv with every dependency pinned, and parses the dbt project so Dagster can load it.
# Safe to re-run: it only reinstalls when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11)' 2>/dev/null; then
    echo "omni360 needs Python 3.11 (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
    echo "setup: installing the venv module (Debian package python3-venv)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null
fi

STAMP=.venv/.omni360-installed
WANT="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "setup: creating .venv and installing dependencies (a few minutes the first time)"
    "$PYTHON" -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -c constraints.txt -e ".[dev]"
    echo "$WANT" > "$STAMP"
fi

# dagster-dbt reads target/manifest.json when the definitions load
(cd dbt_project && OMNI360_LAKE="${OMNI360_LAKE:-$PWD/../warehouse/lake}" ../.venv/bin/dbt parse --quiet --profiles-dir .)
echo "setup: ready (.venv/bin/omni360 --help)"
