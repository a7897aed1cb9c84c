"""The command line end to end: generate, ingest through Dagster, read the status."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from orchestration.cli import app

runner = CliRunner()


def test_generate_then_ingest_then_status(tmp_path: Path):
    out, warehouse = tmp_path / "landing", tmp_path / "wh" / "omni360.duckdb"
    assert (
        runner.invoke(
            app, ["generate", "--persons", "40", "--days", "14", "--out", str(out)]
        ).exit_code
        == 0
    )
    ingest = runner.invoke(app, ["ingest", "--landing", str(out), "--warehouse", str(warehouse)])
    assert ingest.exit_code == 0, ingest.output
    assert "crm/members:" in ingest.output and "checks passed" in ingest.output
    status = runner.invoke(app, ["status", "--warehouse", str(warehouse)])
    assert status.exit_code == 0 and "crm/members" in status.output
    assert "adds up" in status.output and " NO" not in status.output
    # the lake and the logs hold raw personal data: owner-only
    assert stat.S_IMODE((warehouse.parent / "lake").stat().st_mode) == 0o700
    assert stat.S_IMODE((warehouse.parent / "logs").stat().st_mode) == 0o700
