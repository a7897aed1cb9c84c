"""Another region end to end: an en_US landing zone run with `--region US`, as the docs say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration import settings
from orchestration.lib.identity.duckdb_udfs import register
from orchestration.lib.identity.evaluate import evaluate
from orchestration.lib.identity.locale import Locale

pytestmark = pytest.mark.slow
OMNI360 = str(Path(sys.executable).parent / "omni360")


def test_an_en_us_landing_zone_resolves_in_region_us(tmp_path: Path):
    landing, warehouse = tmp_path / "landing", tmp_path / "wh" / "omni360.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNI360_")}
    env["OMNI360_DEMO_MODE"] = "1"
    generate = [OMNI360, "generate", "--persons", "1500", "--days", "60", "--locale", "en_US"]
    subprocess.run([*generate, "--out", str(landing)], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [OMNI360, "run", "--landing", str(landing), "--warehouse", str(warehouse)]
        + ["--region", "US"],
        cwd=settings.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    # nothing after the report: the objects kept out of garbage collection during the run
    # (lib/memory.py) are freed at exit, or DuckDB's bindings print them all as leaked
    assert "nanobind" not in done.stdout + done.stderr, done.stderr[-2000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        register(con)
        phones = con.execute(
            "select count(*), count(*) filter (where phone like '+1%') "
            "from identity.int_identity__source_records where phone is not null"
        ).fetchall()[0]
        figures = evaluate(con, landing, locale=Locale("US"))
    # numbers without a country code are American, not Chinese
    assert phones[0] > 1000 and phones[1] / phones[0] > 0.99
    assert figures.precision >= 0.99 and figures.linkable_recall >= 0.75, figures
    assert figures.golden_accuracy["phone"] >= 0.99
