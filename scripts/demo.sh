#!/usr/bin/env bash
# Quickstart 1: set up, then run the whole pipeline on the committed sample into warehouse/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# the demo may use the public demo token secret; real runs set OMNI360_TOKEN_SECRET
export OMNI360_DEMO_MODE="${OMNI360_DEMO_MODE:-1}"
# A warehouse the demo created is disposable: when the committed sample changed since (a new
# generator version), ingestion would rightly refuse the changed files, so start it afresh.
# A warehouse/ the demo did not create (no marker) is never removed.
marker=warehouse/.demo-sample-sha256
sample_sum=$(find seeds/sample -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)
if [ -f "$marker" ] && [ "$(cat "$marker")" != "$sample_sum" ]; then
    echo "demo: seeds/sample changed since the last demo run; starting warehouse/ afresh"
    rm -rf warehouse
fi
if [ ! -e warehouse ]; then
    mkdir -p warehouse
    echo "$sample_sum" > "$marker"
fi
set +e
.venv/bin/omni360 run --landing seeds/sample --warehouse warehouse/omni360.duckdb "$@"
code=$?
set -e
if [ "$code" != 0 ] && [ ! -f "$marker" ]; then
    echo "demo: if warehouse/ holds a demo run from before seeds/sample last changed, the changed" \
        "sample files are refused by design: remove warehouse/ and run ./scripts/demo.sh again"
fi
exit "$code"
