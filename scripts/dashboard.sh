#!/usr/bin/env bash
# The starter BI dashboard (Evidence, in bi/), built from the published snapshot into a static
# site; docs/bi.md#the-starter-dashboard.
#
#   ./scripts/dashboard.sh [build] [--snapshot FILE] [--out DIR]   build (default: the demo's)
#   ./scripts/dashboard.sh serve [--out DIR] [--port 3300]         serve a built site
#
# Needs node 18+ and npm (the npm registry, for the first install). Works offline otherwise:
# bi/patches/evidence-offline.mjs keeps Evidence from fetching DuckDB's parquet extension.
set -euo pipefail
# relative --snapshot and --out are the caller's: made absolute before any cd
absolute() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

command="build"
case "${1:-}" in build | serve) command=$1; shift ;; esac
snapshot="${OMNI360_PUBLISHED:-$ROOT/warehouse/published}/omni360_marts.duckdb"
out=""
port=3300
while [ $# -gt 0 ]; do
    case "$1" in
        --snapshot) snapshot="$(absolute "$2")"; shift 2 ;;
        --out) out="$(absolute "$2")"; shift 2 ;;
        --port) port=$2; shift 2 ;;
        *) echo "dashboard: unknown option $1 (see the top of $0)" >&2; exit 2 ;;
    esac
done
out="${out:-$(dirname "$snapshot")/dashboard}"

if [ "$command" = serve ]; then
    [ -f "$out/index.html" ] || { echo "dashboard: no site in $out; build it first" >&2; exit 1; }
    echo "dashboard: http://localhost:$port/ (Ctrl-C stops)"
    exec "$ROOT/.venv/bin/python" -m http.server "$port" --bind 127.0.0.1 --directory "$out"
fi

[ -f "$snapshot" ] || {
    echo "dashboard: no published snapshot at $snapshot; run the pipeline first (./scripts/demo.sh)" >&2
    exit 1
}
command -v npm >/dev/null || { echo "dashboard: needs node and npm (Debian: apt install nodejs npm)" >&2; exit 1; }
export CI=true  # no prompts, no colours
cd "$ROOT/bi"
started=$SECONDS
# install when package-lock.json changed (postinstall applies the offline patch)
want="$(sha256sum package-lock.json patches/evidence-offline.mjs | sha256sum | cut -c1-64)"
if [ ! -f node_modules/.omni360-installed ] || [ "$(cat node_modules/.omni360-installed)" != "$want" ]; then
    echo "dashboard: installing Evidence (npm, about a minute the first time)"
    npm install --no-audit --no-fund --loglevel=error </dev/null
    # after the install: npm may rewrite the lock's metadata, which is no reason to reinstall
    sha256sum package-lock.json patches/evidence-offline.mjs | sha256sum | cut -c1-64 \
        > node_modules/.omni360-installed
fi
node patches/evidence-offline.mjs . >/dev/null  # fails loudly if an upgrade moved the patched code

# the connector joins the source folder and the filename: a path relative to the source folder
relative="$(realpath --relative-to=sources/omni360 "$snapshot")"
export EVIDENCE_SOURCE__omni360__filename="$relative"
rm -rf .evidence/template/static/data build
log="$(mktemp -t omni360-dashboard.XXXXXX)"
echo "dashboard: reading the snapshot $snapshot"
# a guard against a hang (what Evidence does when the patch is missing: it waits forever)
if ! timeout 600 npx --no-install evidence sources --strict </dev/null >"$log" 2>&1; then
    cat "$log" >&2
    echo "dashboard: evidence sources failed (log above)" >&2
    exit 1
fi
grep -E "Finished, wrote|rows" "$log" | sed 's/^ */  /' || true
echo "dashboard: building the pages"
if ! timeout 1800 npx --no-install evidence build:strict </dev/null >"$log" 2>&1; then
    tail -60 "$log" >&2
    echo "dashboard: evidence build failed (log above)" >&2
    exit 1
fi
# build:strict exits 0 when a page query fails (the page shows an error box instead)
if grep -q "Error in Query" "$log"; then
    grep -B2 -A8 "Error in Query" "$log" >&2
    echo "dashboard: a page query failed (above)" >&2
    exit 1
fi
rm -f "$log"
# replace only a site this script built (it leaves a marker), never another folder
if [ -e "$out" ] && [ ! -f "$out/.omni360-dashboard" ]; then
    echo "dashboard: $out exists and is not a dashboard this script built; choose another --out" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -r build "$out"
touch "$out/.omni360-dashboard"
chmod -R a+rX "$out"
pages=$(find "$out" -name index.html | wc -l)
echo "dashboard: $pages pages in $out ($((SECONDS - started)) s); serve: ./scripts/dashboard.sh serve --out $out"
