#!/usr/bin/env bash
# Quickstart 2: set up, lint, then run the test suite (slow, large-scale tests are opt-in:
# `./scripts/test.sh -m slow`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# headless Chromium renders the dashboard and the reports in the tests (Playwright drives
# Debian's chromium; its own browser download is not used); CJK fonts for Chinese names
# (grep without -q: an early exit would break fc-list's pipe, and pipefail would report it)
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -i "noto.*cjk" >/dev/null; then
    echo "test: installing chromium and CJK fonts (Debian packages)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
# the Spark engine's tests start Spark from the pyspark distribution: it needs a Java runtime
if ! command -v java >/dev/null; then
    echo "test: installing a Java runtime for Spark (Debian package)"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/omni360 contracts
.venv/bin/sqlfluff lint --nocolor dbt_project/models
set +e
# the slowest tests by name, so the CI log says where its time goes
.venv/bin/pytest -m "not slow" --durations=25 "$@"
code=$?
set -e
# pytest exits 5 when a selection holds no tests; that is not a failure of the suite
if [ "$code" = 5 ]; then exit 0; fi
exit "$code"
