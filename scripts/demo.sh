#!/usr/bin/env bash
# Quickstart 1: set up, then run the whole pipeline on the committed sample into warehouse/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/omni360 run --landing seeds/sample --warehouse warehouse/omni360.duckdb "$@"
