#!/usr/bin/env bash
# Quickstart 1: set up, then run the whole pipeline on the committed sample into warehouse/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# the demo may use the public demo token secret; real runs set OMNI360_TOKEN_SECRET
export OMNI360_DEMO_MODE="${OMNI360_DEMO_MODE:-1}"
exec .venv/bin/omni360 run --landing seeds/sample --warehouse warehouse/omni360.duckdb "$@"
